"""Overlap policies (skip, queue, allow, replace) and retries, decided by the loop with the clock
moved by hand: what each policy records, and that each occurrence and each attempt is claimed
once (docs/daemon.md, "Overlap" and "Retries")."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError

from akjob.cli import showinfo
from akjob.daemon import dispatcher as claims
from akjob.daemon.loop import Daemon
from akjob.daemon.runnow import refusal
from akjob.daemon.supervisor import InlineSupervisor
from akjob.models import DaemonRecord, Job, JobRun
from akjob.timeutil import to_aware
from tests.daemon import jobcode
from tests.daemon.steps import T0, Holding, make

pytestmark = pytest.mark.django_db
Status = JobRun.Status
S = timedelta(seconds=1)


def records(job: Job) -> list[tuple[datetime, int, str]]:
    rows = JobRun.objects.filter(job=job).order_by("scheduled", "attempt")
    return [(r.scheduled, r.attempt, r.status) for r in rows]


def holding(clock, *, size: int = 4, **fields) -> tuple[Daemon, Holding, Job]:
    """A daemon whose runs stay in progress until the test ends them, and a job every 10 s
    (first due at T0 + 10 s) with ``fields``."""
    supervisor = Holding(size=size)
    daemon = Daemon(clock=clock, supervisor=supervisor, max_workers=size)
    job = make(run_every=10 * S, **fields)
    return daemon, supervisor, job


def at(clock, daemon: Daemon, seconds: float) -> None:
    clock.set(T0 + seconds * S)
    daemon.run_once(clock.now())


# -- queue -----------------------------------------------------------------------------------


def test_queue_runs_the_latest_occurrence_that_came_during_the_run_when_it_ends(clock):
    daemon, supervisor, job = holding(clock, overlap="queue")
    at(clock, daemon, 10)
    (first,) = supervisor.held
    at(clock, daemon, 32)  # 20 s and 30 s came: nothing is decided while the run goes on
    assert records(job) == [(T0 + 10 * S, 1, Status.RUNNING)]
    supervisor.end(first, T0 + 34.5 * S)
    at(clock, daemon, 35)
    assert records(job) == [
        (T0 + 10 * S, 1, Status.SUCCEEDED),
        (T0 + 20 * S, 1, Status.SKIPPED),  # one waits at most: the older one is skipped
        (T0 + 30 * S, 1, Status.RUNNING),  # the latest waited, and runs at once
    ]
    skipped = JobRun.objects.get(job=job, status=Status.SKIPPED)
    assert skipped.missed_count == 1 and "overlap: queue" in skipped.error
    queued = JobRun.objects.get(job=job, status=Status.RUNNING)
    assert queued.waited == 4.5 * S  # from its time to the end of the run before it
    job.refresh_from_db()
    assert job._next_run == T0 + 40 * S


def test_queue_with_one_occurrence_waiting_skips_nothing(clock):
    daemon, supervisor, job = holding(clock, overlap="queue")
    at(clock, daemon, 10)
    supervisor.end(supervisor.held[0], T0 + 23 * S)
    at(clock, daemon, 24)
    assert records(job) == [(T0 + 10 * S, 1, Status.SUCCEEDED), (T0 + 20 * S, 1, Status.RUNNING)]
    assert JobRun.objects.get(job=job, status=Status.RUNNING).waited == 3 * S


def test_queue_does_not_record_a_wait_for_an_occurrence_on_time(clock):
    daemon, supervisor, job = holding(clock, overlap="queue")
    at(clock, daemon, 10)
    supervisor.end(supervisor.held[0], T0 + 12 * S)
    at(clock, daemon, 20)
    assert JobRun.objects.get(job=job, status=Status.RUNNING).waited is None


def test_skip_stays_the_default(clock):
    daemon, supervisor, job = holding(clock)
    assert job.overlap == "skip"
    at(clock, daemon, 10)
    supervisor.end(supervisor.held[0], T0 + 23 * S)
    at(clock, daemon, 24)
    assert records(job) == [(T0 + 10 * S, 1, Status.SUCCEEDED), (T0 + 20 * S, 1, Status.SKIPPED)]


# -- allow -----------------------------------------------------------------------------------


def test_allow_runs_beside_the_run_in_progress_up_to_max_instances(clock):
    daemon, supervisor, job = holding(clock, overlap="allow", max_instances=2)
    at(clock, daemon, 10)
    at(clock, daemon, 20)
    assert records(job) == [(T0 + 10 * S, 1, Status.RUNNING), (T0 + 20 * S, 1, Status.RUNNING)]
    assert Job.objects.get(pk=job.pk)._job_running  # runs that do not hold the job still show
    assert refusal(Job.objects.get(pk=job.pk)) == (
        f"job {job.pk} has 2 run(s) in progress, as many as its runs at once (max_instances 2)"
    )
    at(clock, daemon, 30)  # a third would be one too many
    skipped = JobRun.objects.get(job=job, scheduled=T0 + 30 * S)
    assert skipped.status == Status.SKIPPED and "max_instances 2" in skipped.error
    supervisor.end(supervisor.held[0], T0 + 35 * S)
    at(clock, daemon, 40)
    assert records(job)[-1] == (T0 + 40 * S, 1, Status.RUNNING)
    assert JobRun.objects.filter(job=job, status=Status.RUNNING).count() == 2
    job.refresh_from_db()
    assert job._run_count == 3  # the skipped occurrence is not a run


def test_allow_with_one_instance_never_overlaps(clock):
    daemon, supervisor, job = holding(clock, overlap="allow", max_instances=1)
    at(clock, daemon, 10)
    at(clock, daemon, 20)
    assert records(job) == [(T0 + 10 * S, 1, Status.RUNNING), (T0 + 20 * S, 1, Status.SKIPPED)]


def test_allow_counts_runs_claimed_by_other_daemons(clock):
    daemon, supervisor, job = holding(clock, overlap="allow", max_instances=1)
    other = DaemonRecord.objects.create(host="elsewhere", pid=1, started=T0, heartbeat=T0)
    clock.set(T0 + 10 * S)
    assert isinstance(
        claims.claim(Job.objects.get(pk=job.pk), now=clock.now(), daemon=other, lease=60, pid=1),
        claims.Claimed,
    )
    at(clock, daemon, 20)
    assert records(job) == [(T0 + 10 * S, 1, Status.RUNNING), (T0 + 20 * S, 1, Status.SKIPPED)]
    assert supervisor.held == []


# -- replace ---------------------------------------------------------------------------------


def test_replace_records_the_run_in_progress_interrupted_and_starts_the_new_one(clock):
    daemon, supervisor, job = holding(clock, overlap="replace")
    at(clock, daemon, 10)
    (old,) = supervisor.held
    at(clock, daemon, 20)
    assert records(job) == [
        (T0 + 10 * S, 1, Status.INTERRUPTED),
        (T0 + 20 * S, 1, Status.RUNNING),
    ]
    replaced = JobRun.objects.get(job=job, scheduled=T0 + 10 * S)
    assert "replaced by the run of the occurrence" in replaced.error
    assert replaced.finished == T0 + 20 * S
    new = supervisor.held[1]
    assert new.claimed.replaces == (old.claimed.run_id,)
    assert old.terminated_at is not None  # this daemon's own run is stopped as on a timeout
    # The old run's process ends: its outcome is not recorded over the interruption.
    supervisor.end(old, T0 + 21 * S)
    at(clock, daemon, 22)
    assert JobRun.objects.get(pk=old.claimed.run_id).status == Status.INTERRUPTED


def test_replace_stops_the_old_run_when_the_new_one_starts_not_when_claimed_ahead(clock):
    daemon, supervisor, job = holding(clock, overlap="replace")
    at(clock, daemon, 10)
    (old,) = supervisor.held
    at(clock, daemon, 19.8)  # the next occurrence is claimed ahead (the look-ahead) ...
    assert len(supervisor.held) == 2 and old.terminated_at is None  # ... the old run goes on
    assert daemon.sleep_for(clock.now()) <= 0.2 + 1e-6  # the daemon wakes to stop it on time
    at(clock, daemon, 20)
    assert old.terminated_at is not None


def test_replace_leaves_a_job_with_no_run_in_progress_alone(clock):
    daemon, supervisor, job = holding(clock, overlap="replace")
    at(clock, daemon, 10)
    supervisor.end(supervisor.held[0], T0 + 12 * S)
    at(clock, daemon, 20)
    assert records(job) == [(T0 + 10 * S, 1, Status.SUCCEEDED), (T0 + 20 * S, 1, Status.RUNNING)]
    assert supervisor.held[0].claimed.replaces == ()


# -- retries ---------------------------------------------------------------------------------


def retrying(clock, code=None, **fields) -> tuple[Daemon, Job]:
    daemon = Daemon(clock=clock, supervisor=InlineSupervisor(size=2), max_workers=2)
    fields = {
        "run_every": timedelta(minutes=10),
        "retries": 2,
        "retry_backoff": 5 * S,
        "retry_backoff_factor": 3,
        **fields,
    }
    job = make(code or jobcode.Boom(), **fields)
    return daemon, job


def test_a_failed_run_is_retried_with_growing_waits_then_left_failed(clock):
    daemon, job = retrying(clock)
    first = T0 + timedelta(minutes=10)
    clock.set(first)
    daemon.run_once(clock.now())
    failed = JobRun.objects.get(job=job)
    assert failed.status == Status.FAILED and failed.retry_at == first + 6 * S  # 5 s, rounded up
    job.refresh_from_db()
    assert job._next_run == first + 6 * S
    clock.set(first + 5 * S)
    daemon.run_once(clock.now())
    assert records(job) == [(first, 1, Status.FAILED)]  # not yet
    clock.set(first + 6 * S)
    daemon.run_once(clock.now())
    # The second attempt: its own record, of the same occurrence; the wait grows by 3.
    assert records(job) == [(first, 1, Status.FAILED), (first, 2, Status.FAILED)]
    second = JobRun.objects.get(job=job, attempt=2)
    assert second.retry_at == first + (6 + 15 + 1) * S
    assert JobRun.objects.get(job=job, attempt=1).retry_at is None
    clock.set(second.retry_at)
    daemon.run_once(clock.now())
    assert [r[1:] for r in records(job)] == [(1, "failed"), (2, "failed"), (3, "failed")]
    assert not JobRun.objects.filter(job=job, retry_at__isnull=False).exists()  # no retry left
    job.refresh_from_db()
    assert job._run_count == 1  # one occurrence, however many attempts
    assert job._next_run == T0 + timedelta(minutes=20)  # back on its schedule
    # showinfo says the policy, and each attempt in the run table.
    info = showinfo(job.pk)
    assert re.search(r"^retries\s+2$", info, re.M) and re.search(r"^overlap\s+skip$", info, re.M)
    assert "failed (attempt 3)" in info and "failed (attempt 2)" in info


def test_showinfo_says_when_a_retry_is_due(clock):
    daemon, job = retrying(clock)
    first = T0 + timedelta(minutes=10)
    clock.set(first)
    daemon.run_once(clock.now())
    assert "failed, retry at 2027-06-07 10:10:06 UTC" in showinfo(job.pk)


def test_showinfo_says_the_retry_time_in_the_job_s_zone_as_its_other_times(clock):
    daemon, job = retrying(clock, timezone="Europe/Berlin")
    clock.set(to_aware(job._next_run))
    daemon.run_once(clock.now())
    (run,) = JobRun.objects.filter(job=job)
    local = run.retry_at.astimezone(ZoneInfo("Europe/Berlin")).isoformat(sep=" ")
    assert f"failed, retry at {local} Europe/Berlin" in showinfo(job.pk)


def test_a_one_off_job_is_retried_though_it_has_no_next_run(clock):
    daemon = Daemon(clock=clock, supervisor=InlineSupervisor(size=2), max_workers=2)
    once = T0 + 10 * S
    job = make(jobcode.Boom(), dates_list=[once], retries=1, retry_backoff=2 * S)
    clock.set(once)
    daemon.run_once(clock.now())
    assert JobRun.objects.get(job=job).retry_at == once + 3 * S
    clock.set(once + 3 * S)
    daemon.run_once(clock.now())
    assert records(job) == [(once, 1, Status.FAILED), (once, 2, Status.FAILED)]
    job.refresh_from_db()
    assert job._next_run is None and job._run_count == 1


def test_the_code_is_told_its_attempt(clock):
    daemon, job = retrying(clock, jobcode.FailFirst(), retries=1)
    first = T0 + timedelta(minutes=10)
    clock.set(first)
    daemon.run_once(clock.now())
    clock.set(first + 6 * S)
    daemon.run_once(clock.now())
    assert records(job) == [(first, 1, Status.FAILED), (first, 2, Status.SUCCEEDED)]
    job.refresh_from_db()
    seen = job.job_code_object.seen
    assert (seen.scheduled, seen.attempt) == (first, 2)


def test_a_retry_that_would_come_after_the_next_occurrence_is_not_made(clock):
    daemon, job = retrying(clock, run_every=10 * S, retry_backoff=timedelta(seconds=30))
    clock.set(T0 + 10 * S)
    daemon.run_once(clock.now())
    failed = JobRun.objects.get(job=job)
    assert failed.retry_at is None
    assert failed.error.startswith("no retry: the job's next run")
    assert failed.error.strip().splitlines()[-1].startswith("RuntimeError")  # still last
    job.refresh_from_db()
    assert job._next_run == T0 + 20 * S


def test_a_retry_holds_the_job_like_any_run(clock):
    """A retry still going when the next occurrence comes: skipped, by the default policy."""
    supervisor = Holding(size=2)
    daemon = Daemon(clock=clock, supervisor=supervisor, max_workers=2)
    job = make(jobcode.Boom(), run_every=20 * S, retries=1, retry_backoff=2 * S)
    at(clock, daemon, 20)
    supervisor.end(supervisor.held[0], T0 + 21 * S, status="failed")
    at(clock, daemon, 21)
    at(clock, daemon, 24)  # the retry (21 + 2 s, rounded up)
    assert records(job) == [(T0 + 20 * S, 1, Status.FAILED), (T0 + 20 * S, 2, Status.RUNNING)]
    at(clock, daemon, 40)  # the next occurrence: the retry is in progress
    assert records(job)[-1] == (T0 + 20 * S, 2, Status.RUNNING)
    supervisor.end(supervisor.held[0], T0 + 45 * S)
    at(clock, daemon, 45)
    assert records(job) == [
        (T0 + 20 * S, 1, Status.FAILED),
        (T0 + 20 * S, 2, Status.SUCCEEDED),
        (T0 + 40 * S, 1, Status.SKIPPED),
    ]


def test_a_retry_is_claimed_once_between_daemons(clock):
    daemon, job = retrying(clock)
    first = T0 + timedelta(minutes=10)
    clock.set(first)
    daemon.run_once(clock.now())
    clock.set(first + 6 * S)
    stale = Job.objects.get(pk=job.pk)
    other = DaemonRecord.objects.create(host="elsewhere", pid=1, started=T0, heartbeat=T0)
    won = claims.claim(Job.objects.get(pk=job.pk), now=clock.now(), daemon=other, lease=60, pid=1)
    assert isinstance(won, claims.Claimed) and won.attempt == 2
    assert claims.claim(stale, now=clock.now(), daemon=daemon.record, lease=60, pid=0) is None
    assert records(job) == [(first, 1, Status.FAILED), (first, 2, Status.RUNNING)]


def test_editing_the_schedule_drops_a_waiting_retry(clock):
    daemon, job = retrying(clock)
    first = T0 + timedelta(minutes=10)
    clock.set(first)
    daemon.run_once(clock.now())
    job = Job.objects.get(pk=job.pk)
    job.run_every = timedelta(minutes=5)
    job.save(now=clock.now())
    assert not JobRun.objects.filter(job=job, retry_at__isnull=False).exists()
    job.refresh_from_db()
    assert job._next_run == first + timedelta(minutes=5)


def test_run_now_drops_a_waiting_retry(clock):
    daemon, job = retrying(clock)
    first = T0 + timedelta(minutes=10)
    clock.set(first)
    daemon.run_once(clock.now())
    clock.set(first + 2 * S)
    Job.objects.filter(pk=job.pk).update(_next_run=clock.now())  # what Run now writes
    daemon.run_once(clock.now())
    assert records(job) == [(first, 1, Status.FAILED), (first + 2 * S, 1, Status.FAILED)]
    assert JobRun.objects.get(job=job, scheduled=first).retry_at is None


def test_a_timed_out_run_is_retried_and_an_interrupted_one_is_not(clock):
    supervisor = Holding(size=2)
    daemon = Daemon(clock=clock, supervisor=supervisor, max_workers=2)
    job = make(run_every=timedelta(minutes=1), retries=1, retry_backoff=2 * S)
    clock.set(T0 + 60 * S)
    daemon.run_once(clock.now())
    supervisor.end(supervisor.held[0], T0 + 61 * S, status="timed out")
    at(clock, daemon, 62)
    assert JobRun.objects.get(job=job).retry_at == T0 + 64 * S
    at(clock, daemon, 64)
    run = supervisor.held[0]
    claims.interrupt([run.claimed.run_id], reason="stopped", now=T0 + 65 * S)
    assert not JobRun.objects.filter(job=job, retry_at__isnull=False).exists()


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"max_instances": 0}, "max_instances", "runs at once must be from 1 to 100, not 0"),
        ({"retries": 101}, "retries", "retries must be from 0 to 100, not 101"),
        (
            {"retry_backoff_factor": 0.5},
            "retry_backoff_factor",
            "the retry wait factor must be from 1 to 100, not 0.5",
        ),
        (
            {"retry_backoff": timedelta(0)},
            "retry_backoff",
            "the first retry wait must be from 1 second to 7 days",
        ),
        (
            {"retry_backoff": timedelta(minutes=5), "retry_backoff_max": timedelta(minutes=1)},
            "retry_backoff_max",
            "the longest retry wait (1 minute) must not be shorter than the first (5 minutes)",
        ),
        ({"overlap": "sometimes"}, "overlap", "is not a valid choice"),
    ],
)
def test_bad_policy_values_are_refused_naming_the_field(fields, field, message):
    job = Job(name="bad", run_every=timedelta(minutes=1), **fields)
    job.job_code_object = jobcode.Counter()
    with pytest.raises(ValidationError) as caught:
        job.save()
    assert field in caught.value.message_dict
    assert message in " ".join(caught.value.message_dict[field])
    assert not Job.objects.filter(name="bad").exists()


def test_retry_waits_grow_by_the_factor_up_to_the_longest():
    wait = claims.retry_wait
    first, longest = 10 * S, timedelta(minutes=1)
    assert [wait(first, 2.0, longest, n).total_seconds() for n in (1, 2, 3, 4, 5)] == [
        10,
        20,
        40,
        60,
        60,
    ]
    assert wait(first, 1.0, longest, 50) == first
    assert wait(first, 100.0, longest, 10_000) == longest  # no overflow however many attempts
