"""The daemon's loop step and claim/outcome logic, with a clock moved by hand (no sleeping, no
forking: runs execute inline)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from akjob.daemon import dispatcher as claims
from akjob.daemon import store as sql
from akjob.daemon.loop import Daemon
from akjob.daemon.supervisor import InlineSupervisor
from akjob.models import DaemonRecord, Job, JobRun
from tests.daemon import jobcode
from tests.daemon.steps import T0, Holding, claimed_elsewhere, held_run, make

pytestmark = pytest.mark.django_db
Status = JobRun.Status


@pytest.fixture
def daemon(clock):
    return Daemon(clock=clock, supervisor=InlineSupervisor(size=4), max_workers=4)


def runs(job: Job) -> list[tuple[datetime, str]]:
    return [(r.scheduled, r.status) for r in JobRun.objects.filter(job=job).order_by("scheduled")]


def test_nothing_due_sleeps_until_the_next_run(daemon, clock):
    make(run_every=timedelta(minutes=5))
    assert daemon.run_once(clock.now()) == 1.0  # capped at the poll interval
    # It wakes half a second ahead (the look-ahead) to have the job's process ready on time.
    clock.set(T0 + timedelta(minutes=5) - timedelta(seconds=0.75))
    assert daemon.run_once(clock.now()) == pytest.approx(0.25)


def test_an_idle_wake_up_is_one_statement(daemon, clock):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    make(run_every=timedelta(minutes=5))
    disabled = make(run_every=timedelta(seconds=10))
    Job.objects.filter(pk=disabled.pk).update(job_enabled=False)  # due, but not to be run
    daemon.run_once(clock.now())  # registers
    clock.set(T0 + timedelta(seconds=5))  # no heartbeat due yet
    with CaptureQueriesContext(connection) as queries:
        assert daemon.run_once(clock.now()) == 1.0
    assert len(queries) == 1, [q["sql"] for q in queries]
    clock.set(T0 + timedelta(minutes=5) - timedelta(seconds=0.75))
    assert daemon.run_once(clock.now()) == pytest.approx(0.25)


def test_a_job_due_within_the_lookahead_is_claimed_for_its_own_time(daemon, clock):
    job = make(run_every=timedelta(minutes=5))
    clock.set(T0 + timedelta(minutes=5) - timedelta(seconds=0.3))
    daemon.run_once(clock.now())
    (run,) = JobRun.objects.filter(job=job)
    assert run.scheduled == run.started == T0 + timedelta(minutes=5)
    job.refresh_from_db()
    assert job._next_run == T0 + timedelta(minutes=10)
    assert job._last_run == T0 + timedelta(minutes=5)


def test_due_job_runs_once_and_counts(daemon, clock):
    job = make(run_every=timedelta(minutes=5))
    clock.set(T0 + timedelta(minutes=5))
    daemon.run_once(clock.now())
    daemon.run_once(clock.now())
    job.refresh_from_db()
    assert job._run_count == 1 and job._job_running is False
    assert job._next_run == T0 + timedelta(minutes=10)
    assert job._last_interval == T0 + timedelta(minutes=5)
    assert job._last_run == T0 + timedelta(minutes=5)
    assert runs(job) == [(T0 + timedelta(minutes=5), Status.SUCCEEDED)]
    assert job.job_code_object.count == 1  # the code object's state was saved back


def test_code_changes_to_ownjob_persist(daemon, clock):
    job = make(jobcode.Rename(), run_every=timedelta(seconds=10), name="r")
    for step in (1, 2):
        clock.set(T0 + timedelta(seconds=10 * step))
        daemon.run_once(clock.now())
    assert Job.objects.get(pk=job.pk).name == "r!!"


def test_failure_is_recorded_and_the_schedule_goes_on(daemon, clock):
    job = make(jobcode.Boom(), run_every=timedelta(seconds=10))
    other = make(run_every=timedelta(seconds=10))
    clock.set(T0 + timedelta(seconds=10))
    daemon.run_once(clock.now())
    run = JobRun.objects.get(job=job)
    assert run.status == Status.FAILED and "boom from the job" in run.error
    assert "RuntimeError" in run.error
    assert JobRun.objects.get(job=other).status == Status.SUCCEEDED
    job.refresh_from_db()
    assert job._next_run == T0 + timedelta(seconds=20) and job._run_count == 1


def test_system_exit_in_job_is_a_failure(daemon, clock):
    job = make(jobcode.Exit(), run_every=timedelta(seconds=10))
    clock.set(T0 + timedelta(seconds=10))
    daemon.run_once(clock.now())
    assert "SystemExit" in JobRun.objects.get(job=job).error


def test_missed_occurrences_coalesce_into_one_run(daemon, clock):
    job = make(run_every=timedelta(hours=1))
    clock.set(T0 + timedelta(hours=72, minutes=30))  # daemon was off for three days
    daemon.run_once(clock.now())
    daemon.run_once(clock.now())
    job.refresh_from_db()
    (run,) = JobRun.objects.filter(job=job)
    assert (run.scheduled, run.status, run.missed_count) == (
        T0 + timedelta(hours=1),
        Status.SUCCEEDED,
        71,
    )
    assert job._run_count == 1
    assert job._next_run == T0 + timedelta(hours=73)
    assert job._last_interval == T0 + timedelta(hours=1)


def test_misfire_grace_records_one_missed_row(daemon, clock):
    job = make(run_every=timedelta(hours=1), misfire_grace=timedelta(minutes=10))
    clock.set(T0 + timedelta(hours=72, minutes=30))
    daemon.run_once(clock.now())
    (run,) = JobRun.objects.filter(job=job)
    assert (run.status, run.missed_count) == (Status.MISSED, 72)
    job.refresh_from_db()
    assert job._run_count == 0 and job._next_run == T0 + timedelta(hours=73)


@pytest.mark.parametrize("late,status", [(45, Status.SUCCEEDED), (61, Status.MISSED)])
def test_late_within_and_beyond_grace(daemon, clock, late, status):
    job = make(run_every=timedelta(hours=1), misfire_grace=timedelta(seconds=60))
    clock.set(T0 + timedelta(hours=1, seconds=late))
    daemon.run_once(clock.now())
    run = JobRun.objects.get(job=job)
    assert run.status == status
    assert run.scheduled == T0 + timedelta(hours=1)
    if status == Status.SUCCEEDED:
        assert run.started == T0 + timedelta(hours=1, seconds=late)


def test_clock_stepping_back_does_not_rerun(daemon, clock):
    job = make(run_every=timedelta(hours=1))
    clock.set(T0 + timedelta(hours=1))
    daemon.run_once(clock.now())
    clock.set(T0 + timedelta(minutes=55))
    daemon.run_once(clock.now())
    assert len(runs(job)) == 1


def test_run_count_limit_stops_scheduling(daemon, clock):
    job = make(run_every=timedelta(seconds=10), run_count_limit=2)
    for step in range(1, 5):
        clock.set(T0 + timedelta(seconds=10 * step))
        daemon.run_once(clock.now())
    job.refresh_from_db()
    assert job._run_count == 2 and job._next_run is None
    assert len(runs(job)) == 2


def test_job_deleting_itself(daemon, clock):
    job = make(jobcode.DeleteSelf(), run_every=timedelta(seconds=10))
    clock.set(T0 + timedelta(seconds=10))
    daemon.run_once(clock.now())
    assert not Job.objects.filter(pk=job.pk).exists()
    (run,) = JobRun.objects.all()
    assert run.status == Status.SUCCEEDED and run.job_id is None


def test_deleteme(daemon, clock):
    job = make(jobcode.DeleteMe(), run_every=timedelta(seconds=10))
    clock.set(T0 + timedelta(seconds=10))
    daemon.run_once(clock.now())
    assert not Job.objects.filter(pk=job.pk).exists()


def test_tampered_code_fails_the_run_not_the_daemon(daemon, clock):
    job = make(run_every=timedelta(seconds=10))
    other = make(run_every=timedelta(seconds=10))
    blob = bytearray(bytes(job._job_code))
    blob[-3] ^= 0xFF
    Job.objects.filter(pk=job.pk).update(_job_code=bytes(blob))
    clock.set(T0 + timedelta(seconds=10))
    daemon.run_once(clock.now())
    run = JobRun.objects.get(job=job)
    assert run.status == Status.FAILED and "signature" in run.error
    assert JobRun.objects.get(job=other).status == Status.SUCCEEDED


def test_claim_is_exactly_once_between_daemons(clock):
    job = make(run_every=timedelta(seconds=10))
    clock.set(T0 + timedelta(seconds=10))
    a = DaemonRecord.objects.create(host="a", pid=1, started=T0, heartbeat=T0)
    b = DaemonRecord.objects.create(host="b", pid=2, started=T0, heartbeat=T0)
    seen_by_a, seen_by_b = Job.objects.get(pk=job.pk), Job.objects.get(pk=job.pk)
    first = claims.claim(seen_by_a, now=clock.now(), daemon=a, lease=60, pid=1)
    second = claims.claim(seen_by_b, now=clock.now(), daemon=b, lease=60, pid=2)
    assert isinstance(first, claims.Claimed) and second is None
    assert JobRun.objects.count() == 1


def test_finish_is_fenced_by_owner(clock):
    job = make(run_every=timedelta(seconds=10))
    clock.set(T0 + timedelta(seconds=10))
    a = DaemonRecord.objects.create(host="a", pid=1, started=T0, heartbeat=T0)
    claimed = claims.claim(Job.objects.get(pk=job.pk), now=clock.now(), daemon=a, lease=60, pid=1)
    assert claims.interrupt([claimed.run_id], reason="lease expired", now=clock.now()) == 1
    outcome = (claimed, Status.SUCCEEDED, "", clock.now())
    assert claims.finish_batch([outcome], daemon=a) == []
    run = JobRun.objects.get(pk=claimed.run_id)
    assert run.status == Status.INTERRUPTED
    assert Job.objects.get(pk=job.pk)._run_count == 1


def test_stale_lease_is_interrupted_only_after_grace(daemon, clock):
    job = make(dates_list=[T0 + timedelta(seconds=10)])
    clock.set(T0 + timedelta(seconds=10))
    claimed = claimed_elsewhere(job, clock.now())
    clock.set(T0 + timedelta(seconds=75))  # lease ran out at 70 s, grace not yet over
    daemon.run_once(clock.now())
    assert JobRun.objects.get(pk=claimed.run_id).status == Status.RUNNING
    clock.advance(10)  # 85 s: lease + 10 s heartbeat + 10 s grace not yet over
    daemon.run_once(clock.now())
    assert JobRun.objects.get(pk=claimed.run_id).status == Status.RUNNING
    clock.advance(10)
    daemon.run_once(clock.now())
    run = JobRun.objects.get(pk=claimed.run_id)
    assert run.status == Status.INTERRUPTED and "heartbeat" in run.error
    job.refresh_from_db()
    assert job._job_running is False and job._run_count == 1 and job._next_run is None


def test_a_paused_checker_does_not_reap_live_runs(daemon, clock):
    job = make(dates_list=[T0 + timedelta(seconds=10)])
    clock.set(T0 + timedelta(seconds=5))
    daemon.run_once(clock.now())  # our heartbeat at 5 s
    clock.set(T0 + timedelta(seconds=10))
    claimed = claimed_elsewhere(job, clock.now())
    clock.set(T0 + timedelta(seconds=95))  # we were stopped for 90 s: our view is stale
    daemon.run_once(clock.now())
    assert JobRun.objects.get(pk=claimed.run_id).status == Status.RUNNING
    clock.advance(10)  # a normal step later, the peer's silence is real
    daemon.run_once(clock.now())
    assert JobRun.objects.get(pk=claimed.run_id).status == Status.INTERRUPTED


def test_dead_local_daemon_is_recovered_at_start(clock):
    job = make(run_every=timedelta(seconds=10))
    dead = DaemonRecord.objects.create(host=sql.HOST, pid=2**22 + 7, started=T0, heartbeat=T0)
    clock.set(T0 + timedelta(seconds=10))
    claimed = claims.claim(
        Job.objects.get(pk=job.pk), now=clock.now(), daemon=dead, lease=60, pid=2**22 + 9
    )
    daemon = Daemon(clock=clock, supervisor=InlineSupervisor(size=8), max_workers=8)
    daemon.run_once(clock.now())
    run = JobRun.objects.get(pk=claimed.run_id)
    assert run.status == Status.INTERRUPTED and "died" in run.error
    assert DaemonRecord.objects.get(pk=dead.pk).stopped is not None


def test_runs_are_pruned_per_job(daemon, clock, settings):
    settings.AKJOB_RUNS_KEPT = 3
    job = make(run_every=timedelta(seconds=10))
    for step in range(1, 7):
        clock.set(T0 + timedelta(seconds=10 * step))
        daemon.run_once(clock.now())
    assert len(runs(job)) > 3  # pruned at each heartbeat, the last runs not yet
    Job.objects.filter(pk=job.pk).update(job_enabled=False)
    clock.advance(daemon.heartbeat_every)
    daemon.run_once(clock.now())
    assert [s for s, _ in runs(job)] == [T0 + timedelta(seconds=10 * k) for k in (4, 5, 6)]
    assert Job.objects.get(pk=job.pk)._run_count == 6


def test_pruning_many_jobs_at_once_counts_them_in_chunks(clock, monkeypatch):
    monkeypatch.setattr(sql, "CHUNK", 2)
    jobs = [make(run_every=timedelta(seconds=10)) for _ in range(5)]
    for job in jobs:
        for k in range(1, 4):
            JobRun.objects.create(
                job=job, scheduled=T0 + timedelta(seconds=10 * k), status=Status.SUCCEEDED
            )
    assert sql.prune_jobs({job.pk for job in jobs}, keep=1) == 10
    for job in jobs:
        assert [s for s, _ in runs(job)] == [T0 + timedelta(seconds=30)]


def test_signals_are_sent(daemon, clock):
    from akjob.signals import run_finished, run_started

    seen = []
    run_started.connect(lambda sender, run, **kw: seen.append(("start", run.status)), weak=False)
    run_finished.connect(lambda sender, run, **kw: seen.append(("end", run.status)), weak=False)
    try:
        make(run_every=timedelta(seconds=10))
        clock.set(T0 + timedelta(seconds=10))
        daemon.run_once(clock.now())
    finally:
        run_started.receivers.clear()
        run_finished.receivers.clear()
    assert seen == [("start", Status.RUNNING), ("end", Status.SUCCEEDED)]


def test_edit_while_due_is_not_reverted(daemon, clock):
    job = make(run_every=timedelta(seconds=10), name="before")
    user = Job.objects.get(pk=job.pk)
    clock.set(T0 + timedelta(seconds=10))
    daemon.run_once(clock.now())
    user.name = "after"
    user.save()
    fresh = Job.objects.get(pk=job.pk)
    assert fresh.name == "after" and fresh._run_count == 1


def test_a_project_without_use_tz_runs_its_jobs_on_local_time(clock):
    from django.test import override_settings

    from akjob.daemon import store as sql

    with override_settings(USE_TZ=False, TIME_ZONE="Europe/London"):
        daemon = Daemon(clock=clock, supervisor=InlineSupervisor(size=4), max_workers=4)
        job = make(run_every=timedelta(seconds=10))
        local = (T0 + timedelta(seconds=10, hours=1)).replace(tzinfo=None)  # London summer time
        once = make(dates_list=[local])  # its dates are read raw, in local time
        assert sql.earliest_next_run() == T0 + timedelta(seconds=10)
        assert daemon.run_once(clock.now()) == 1.0  # the poll interval
        clock.set(T0 + timedelta(seconds=10))
        daemon.run_once(clock.now())
        (run,) = JobRun.objects.filter(job=job)
        assert run.status == Status.SUCCEEDED
        assert JobRun.objects.get(job=once).status == Status.SUCCEEDED
        assert Job.objects.get(pk=once.pk)._next_run is None  # its one date, read right, is past
        job.refresh_from_db()
        assert job._next_run == (T0 + timedelta(seconds=20)).replace(tzinfo=None) + timedelta(
            hours=1
        )


def test_an_occurrence_that_already_has_a_record_is_not_claimed_again(clock):
    first = make(run_every=timedelta(seconds=10))
    second = make(run_every=timedelta(seconds=10))
    clock.set(T0 + timedelta(seconds=10))
    a = DaemonRecord.objects.create(host="a", pid=1, started=T0, heartbeat=T0)
    earlier = JobRun.objects.create(
        job=first, scheduled=T0 + timedelta(seconds=10), status=Status.SUCCEEDED
    )
    jobs = list(Job.objects.filter(pk__in=[first.pk, second.pk]).order_by("pk"))
    results = claims.claim_batch(jobs, now=clock.now(), daemon=a, lease=60, pids=[1, 1])
    assert [r.job_id for r in results] == [second.pk]
    assert isinstance(results[0], claims.Claimed) and results[0].run_id is not None
    assert JobRun.objects.get(pk=earlier.pk).status == Status.SUCCEEDED
    assert JobRun.objects.filter(job=first).count() == 1
    assert JobRun.objects.get(pk=results[0].run_id).status == Status.RUNNING


def test_a_job_with_a_run_in_progress_is_not_due(clock):
    daemon, supervisor, job, run = held_run(clock)
    assert Job.objects.get(pk=job.pk)._job_running
    assert not Job.objects.due(T0 + timedelta(seconds=30)).filter(pk=job.pk).exists()
    assert sql.earliest_next_run() is None  # nothing to wake for: the daemon does not spin
    clock.set(T0 + timedelta(seconds=25))
    daemon.run_once(clock.now())
    assert runs(job) == [(T0 + timedelta(seconds=10), Status.RUNNING)]  # nothing decided yet


def test_occurrences_during_a_run_are_skipped_when_it_ends(clock):
    daemon, supervisor, job, run = held_run(clock)
    clock.set(T0 + timedelta(seconds=35))
    supervisor.end(run, T0 + timedelta(seconds=34, microseconds=500_000))
    daemon.run_once(clock.now())
    assert runs(job) == [
        (T0 + timedelta(seconds=10), Status.SUCCEEDED),
        (T0 + timedelta(seconds=20), Status.SKIPPED),  # 20 s and 30 s came while it ran
    ]
    skipped = JobRun.objects.get(job=job, status=Status.SKIPPED)
    assert skipped.missed_count == 2 and "in progress" in skipped.error
    job.refresh_from_db()
    assert job._run_count == 1 and job._next_run == T0 + timedelta(seconds=40)


def test_a_run_that_ended_before_the_next_occurrence_never_skips_it(clock):
    """The run ended 1 ms before the next occurrence, and the daemon learns it only later:
    the occurrence still runs, since what counts is when the run ended, not when it was seen."""
    daemon, supervisor, job, run = held_run(clock)
    clock.set(T0 + timedelta(seconds=20, milliseconds=300))
    supervisor.end(run, T0 + timedelta(seconds=19, milliseconds=999))
    daemon.run_once(clock.now())
    assert runs(job) == [
        (T0 + timedelta(seconds=10), Status.SUCCEEDED),
        (T0 + timedelta(seconds=20), Status.RUNNING),
    ]


def test_the_database_holds_a_job_to_one_run_in_progress(clock):
    from django.db import IntegrityError, transaction

    daemon, supervisor, job, run = held_run(clock)
    with pytest.raises(IntegrityError), transaction.atomic():
        JobRun.objects.create(
            job=job, scheduled=T0 + timedelta(seconds=20), status=Status.RUNNING,
            running_for=job.pk,
        )  # fmt: skip
    # A claim of the same job by another daemon, behind this one's back, wins nothing.
    other = DaemonRecord.objects.create(host="b", pid=2, started=T0, heartbeat=T0)
    stale = Job.objects.get(pk=job.pk)
    Job.objects.filter(pk=job.pk).update(_next_run=T0 + timedelta(seconds=20))
    stale._next_run = T0 + timedelta(seconds=20)
    clock.set(T0 + timedelta(seconds=20))
    assert claims.claim(stale, now=clock.now(), daemon=other, lease=60, pid=2) is None
    assert runs(job) == [(T0 + timedelta(seconds=10), Status.RUNNING)]


def test_a_dispatch_claims_no_more_than_there_is_room_for(clock):
    daemon = Daemon(clock=clock, supervisor=Holding(size=4), max_workers=4)
    for _ in range(3):
        make(run_every=timedelta(seconds=10))
    clock.set(T0 + timedelta(seconds=10))
    daemon.register(clock.now())
    assert daemon.dispatch(clock.now()) == 3
    for _ in range(3):
        make(run_every=timedelta(seconds=5))
    clock.set(T0 + timedelta(seconds=15))
    assert daemon.dispatch(clock.now()) == 1  # the room left; the rest stay due
    assert Job.objects.due(clock.now()).count() == 2


def test_a_bad_row_is_recorded_and_the_loop_goes_on(daemon, clock, monkeypatch):
    bad = make(run_every=timedelta(seconds=10))
    good = make(run_every=timedelta(seconds=10))
    real = claims.decide

    def decide(job, *, now, sched=None):
        if job.pk == bad.pk:
            raise ValueError("a row no schedule can be made of")
        return real(job, now=now, sched=sched)

    monkeypatch.setattr(claims, "decide", decide)
    clock.set(T0 + timedelta(seconds=10))
    daemon.run_once(clock.now())
    (run,) = JobRun.objects.filter(job=bad)
    assert run.status == Status.FAILED and "could not decide" in run.error
    assert Job.objects.get(pk=bad.pk)._next_run is None
    assert runs(good) == [(T0 + timedelta(seconds=10), Status.SUCCEEDED)]


def test_a_one_second_job_after_a_30_day_outage_is_counted_not_walked(daemon, clock):
    job = make(run_every=timedelta(seconds=1))
    clock.set(T0 + timedelta(days=30, milliseconds=500))
    daemon.run_once(clock.now())
    (run,) = JobRun.objects.filter(job=job)
    # Every second of the 30 days came due; they coalesce into the one run of the first.
    assert (run.scheduled, run.status) == (T0 + timedelta(seconds=1), Status.SUCCEEDED)
    assert run.missed_count == 30 * 86400 - 1
    assert Job.objects.get(pk=job.pk)._next_run == T0 + timedelta(days=30, seconds=1)


def test_a_code_object_replaced_during_its_run_is_kept(daemon, clock):
    job = make(jobcode.ReplacedMeanwhile(), run_every=timedelta(seconds=10))
    clock.set(T0 + timedelta(seconds=10))
    daemon.run_once(clock.now())
    fresh = Job.objects.get(pk=job.pk)
    assert isinstance(fresh.job_code_object, jobcode.Counter)
    assert fresh.job_code_object.count == 100  # the replacement, not the run's old object
    assert fresh.name == "renamed by the run"  # the run's other changes are kept
    (run,) = JobRun.objects.filter(job=job)
    assert run.status == Status.SUCCEEDED and "were dropped" in run.error


def test_a_run_is_taken_over_before_it_is_declared_dead_unless_renewed(clock):
    job = make(run_every=timedelta(seconds=10))
    clock.set(T0 + timedelta(seconds=10))
    owner = DaemonRecord.objects.create(host=sql.HOST, pid=2**22 + 11, started=T0, heartbeat=T0)
    me = DaemonRecord.objects.create(host=sql.HOST, pid=2**22 + 12, started=T0, heartbeat=T0)
    claimed = claims.claim(
        Job.objects.get(pk=job.pk), now=clock.now(), daemon=owner, lease=60, pid=0
    )
    cutoff = T0 + timedelta(seconds=100)
    # The owner renewed its lease past the cutoff: nothing is taken over.
    JobRun.objects.filter(pk=claimed.run_id).update(lease_until=cutoff + timedelta(seconds=1))
    assert not sql.take_over(claimed.run_id, me, cutoff)
    # Its lease ran out: taken over, and the owner's late outcome matches no row.
    JobRun.objects.filter(pk=claimed.run_id).update(lease_until=cutoff - timedelta(seconds=1))
    assert sql.take_over(claimed.run_id, me, cutoff)
    outcome = (claimed, Status.FAILED, "killed", clock.now())
    assert claims.finish_batch([outcome], daemon=owner) == []
    assert JobRun.objects.get(pk=claimed.run_id).status == Status.RUNNING
