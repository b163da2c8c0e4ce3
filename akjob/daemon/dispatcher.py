"""The dispatcher: due jobs become claimed runs, ended runs become records.

An occurrence is (job, scheduled time). A daemon claims one with a compare-and-set on the job row
(``_next_run`` still equal to the occurrence) and a ``JobRun`` row that is unique per occurrence
and, while it runs, unique per job: exactly one daemon wins, and a job has one run at a time, on
every database. Where the database can (PostgreSQL, MySQL 8, MariaDB 10.6+), the job rows are
locked ``SKIP LOCKED`` first, so several daemons take different due jobs rather than queueing for
the same rows. Every later write about the run is fenced by the run's owner and state, so a
daemon that was paused past its lease and whose run was meanwhile declared interrupted cannot
count it twice.

A job with a run in progress is not due. Whether one of its occurrences overlapped that run is
decided when the run has ended, from the recorded end (see :func:`settle`): an occurrence that
came while the run was in progress is recorded skipped (overlap policy ``skip``) or, with
``queue``, the latest of them runs at once. Under ``allow`` and ``replace`` a run does not hold
its job: the next occurrence is claimed as usual, and the claim counts the runs in progress
(``allow``: at most ``max_instances``, else the occurrence is recorded skipped) or records them
interrupted (``replace``: their daemons stop them). Both happen in the claim's transaction, on
the job row the claim holds, so several daemons agree.

A failed or timed-out run with retries left gets a retry: its record says when
(``retry_at``), and the job's next run moves to that time. The claim of that time runs the same
occurrence again, as its next attempt (a record of its own), and the job goes back to its
schedule. A retry that would come after the job's next occurrence is not made.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction

from akjob import daysets
from akjob import schedule as engine
from akjob.conf import akjob_settings
from akjob.daemon import catchup, claimsql, store
from akjob.jobschedule import build, build_sharing, schedule_inputs
from akjob.models import DaemonRecord, Job, JobRun, last_grid_point
from akjob.timeutil import to_aware, to_db

log = logging.getLogger("akjob.daemon")

Status = JobRun.Status
SKIP, QUEUE, ALLOW, REPLACE = "skip", "queue", "allow", "replace"
#: Overlap policies whose runs hold their job (``running_for``): it is not due while one runs.
HOLDING = frozenset({SKIP, QUEUE})
RETRIED = frozenset({Status.FAILED, Status.TIMED_OUT})
MISSED_COUNT_CAP = 2**31 - 1  # what a run record can hold
ERROR_TAIL = 8000
JUST_BEFORE = timedelta(microseconds=1)


@dataclass(frozen=True)
class Claimed:
    """A run this daemon owns and must execute (``job`` is the row as claimed; ``lease_until``
    its lease as this daemon last wrote it: past that, other daemons may declare it dead, so
    it must not start any more; ``pid`` the process it was claimed for)."""

    run_id: int
    job_id: int
    scheduled: datetime
    timeout: float | None
    job: Job | None = field(default=None, compare=False, repr=False)
    lease_until: datetime | None = field(default=None, compare=False)
    pid: int | None = field(default=None, compare=False)
    attempt: int = field(default=1, compare=False)
    #: When the run may start, if not at its occurrence (a retry: its retry time).
    not_before: datetime | None = field(default=None, compare=False)
    #: Runs of the job this run replaces (overlap policy ``replace``), recorded interrupted.
    replaces: tuple[int, ...] = field(default=(), compare=False)

    @property
    def begins(self) -> datetime:
        """When the run may start: its occurrence, or for a retry its retry time."""
        return self.not_before or self.scheduled


@dataclass(frozen=True)
class Decision:
    """What to do with a due occurrence: ``run``, ``miss`` (too late, or passed over by the
    job's catch-up policy: ``reason`` says which) or ``refuse`` (the job's row cannot be
    decided on: recorded failed, and the job not scheduled until saved again)."""

    action: str
    scheduled: datetime
    next_run: datetime | None
    missed: int
    interval_anchor: datetime | None
    reason: str = ""
    attempt: int = 1
    retry_of: int | None = None  # the record of the failed attempt this one retries
    not_before: datetime | None = None  # a retry: its time (the occurrence's is past)


# A due job this daemon means to claim, what it decided, and the run record that claims it.
Planned = tuple[Job, Decision, "claimsql.Record"]


def decide(job: Job, *, now: datetime, sched: engine.Schedule | None = None) -> Decision:
    """Pure decision for a due job (``_next_run <= now``, no run in progress), by its catch-up
    policy and misfire grace (:mod:`akjob.daemon.catchup`). ``sched``: the job's schedule, if
    the caller has built it."""
    scheduled = to_aware(job._next_run)
    sched = sched or build(job, now=now)
    planned = catchup.plan(
        sched,
        policy=job.catch_up,
        scheduled=scheduled,
        now=now,
        grace=job.misfire_grace,
        cap=akjob_settings.catch_up_max,
    )
    anchor = _anchor(job, scheduled)
    return Decision(
        planned.action, scheduled, planned.next_run, planned.missed, anchor, planned.reason
    )


@dataclass
class Shared:
    """What the decisions of one batch share between its jobs: decisions by all their inputs,
    schedules by theirs but the interval's anchor."""

    decisions: dict[tuple[Any, ...], Decision] = field(default_factory=dict)
    schedules: dict[Any, engine.Schedule] = field(default_factory=dict)


def _decided(job: Job, now: datetime, shared: Shared) -> Decision:
    """:func:`decide`, once for the jobs of a batch that share every input of the decision: the
    schedule's (:func:`schedule_inputs`), the occurrence, the time and the misfire grace. A
    burst of jobs with one schedule, due together, is decided once; jobs whose schedules differ
    in their interval's anchor alone share the building of their schedule (see
    docs/benchmarks.md)."""
    key = decision_inputs(job, now)
    try:
        decision = shared.decisions.get(key)
    except TypeError:  # a value that cannot be hashed (an exotic tzinfo): no sharing
        return decide(job, now=now)
    if decision is None:
        sched = build_sharing(job, now=now, inputs=key[DECISION_OWN:], built=shared.schedules)
        decision = shared.decisions[key] = decide(job, now=now, sched=sched)
    return decision


def decision_inputs(job: Job, now: datetime) -> tuple[Any, ...]:
    """Everything :func:`decide` reads: the time, the occurrence, the misfire grace, the
    catch-up policy (:data:`DECISION_OWN` values) and the schedule's inputs (the interval's
    anchor among them)."""
    return (now, job._next_run, job.misfire_grace, job.catch_up, *schedule_inputs(job))


DECISION_OWN = 4


def _anchor(job: Job, scheduled: datetime) -> datetime | None:
    if job.run_every is not None and job._last_interval is not None:
        return last_grid_point(to_aware(job._last_interval), job.run_every, scheduled)
    return None


def occurrences_until(sched: engine.Schedule, scheduled: datetime, now: datetime) -> int:
    """How many occurrences fall in [scheduled, now], the due one (``scheduled``) included:
    counted, not walked, so a long outage costs no more than a short one (see docs/schedule.md)."""
    after = scheduled.replace(microsecond=0) + timedelta(seconds=1)
    free = sched if sched.remaining is None else replace(sched, remaining=None)
    return 1 + engine.count_between(free, start=after, end=now, cap=MISSED_COUNT_CAP - 1)


def claim(
    job: Job, *, now: datetime, daemon: DaemonRecord, lease: float, pid: int
) -> Claimed | JobRun | None:
    """Act on one due job: see :func:`claim_batch`."""
    result = claim_batch([job], now=now, daemon=daemon, lease=lease, pids=[pid])
    return result[0] if result else None


def claim_batch(
    jobs: list[Job],
    *,
    now: datetime,
    daemon: DaemonRecord,
    lease: float,
    pids: list[int],
    locked: bool = False,
) -> list[Claimed | JobRun]:
    """Act on due jobs, in one transaction. Returns a Claimed run to execute, or the missed
    record, for each job this daemon won; jobs another daemon (or an edit) got first are left
    out. Each run is claimed for one of ``pids`` (the processes ready for runs), recorded in its
    record so that the run's processes can be found again whatever happens to this daemon;
    jobs beyond them stay due.

    ``locked``: the caller's transaction already holds the jobs' rows (read ``FOR UPDATE``);
    otherwise the rows no other transaction holds are locked first and the others left out.

    A job due a moment from now may be claimed ahead of time (the daemon's look-ahead): it is then
    treated exactly as if claimed at its scheduled time, and its run waits for that time.
    """
    if not jobs:
        return []
    won: list[Planned] = []
    replaced: dict[int, tuple[int, ...]] = {}  # job id: the runs its new run replaces
    with transaction.atomic(savepoint=False):
        free = {job.pk for job in jobs} if locked else store.lock_jobs([job.pk for job in jobs])
        planned: list[Planned] = []
        left = list(pids)
        shared = Shared()
        state = PolicyState.read([job for job in jobs if job.pk in free])
        for job in jobs:
            if job.pk not in free:
                continue  # another daemon is at this row right now: its claim, not ours
            if job.deleteme:  # set by another process since the last run
                log.info("job %s (%s) deleted: deleteme was set", job.pk, job.name)
                job.delete()
                continue
            at = max(now, to_aware(job._next_run))
            try:
                decision = state.retry(job, at) or _decided(job, at, shared)
                decision = state.overlap(job, decision, at)
            except Exception as exc:  # noqa: BLE001 - one bad row must not stop the daemon
                log.exception("job %s: its occurrence could not be decided", job.pk)
                decision = Decision("refuse", to_aware(job._next_run), None, 1, None)
                record = _record(job, decision, at, daemon, lease, None)
                record["error"] = f"akjobd could not decide this occurrence: {exc!r}"
                planned.append((job, decision, record))
                continue
            if decision.action == "run" and not left:
                continue  # no process for it now: it stays due
            pid = left.pop(0) if decision.action == "run" else None
            record = _record(job, decision, at, daemon, lease, pid)
            if decision.action == "run" and job.overlap == QUEUE:
                record["waited"] = state.waited(job, decision.scheduled, at)
            planned.append((job, decision, record))

        def write(batch: list[Planned]) -> Callable[[], None]:
            def go() -> None:
                moved = claimsql.cas_jobs(
                    [_move(job, decision, run) for job, decision, run in batch]
                )
                won[:] = [item for item in batch if item[0].pk in moved]
                claimsql.insert_claims([run for _, _, run in won])
                replaced.update(state.settle_won(won))

            return go

        if not store.in_savepoint(write(planned)):
            # A record broke a constraint (its occurrence was recorded, or its job has a run in
            # progress, behind this daemon's back): each job on its own, the others still won.
            kept = []
            for item in planned:
                item[2].pop("id", None)
                if store.in_savepoint(write([item])):
                    kept += won
                else:
                    log.warning("job %s: occurrence already taken", item[0].pk)
            won[:] = kept
    return [
        _result(job, decision, run, replaced.get(job.pk, ()))
        for job, decision, run in won
        if run.get("id") is not None
    ]


def _move(job: Job, decision: Decision, run: claimsql.Record) -> claimsql.Move:
    """The compare-and-set that claims the occurrence: the run's start counts a run (a retry's
    does not: the occurrence was counted at its first attempt)."""
    counted = decision.action == "run" and decision.retry_of is None
    started = run["started"] if counted else None
    return job.pk, job._next_run, decision.next_run, started, decision.interval_anchor


class PolicyState:
    """What the overlap and retry policies of a batch's jobs need from the run records, read in
    a query or two for the whole batch (none when no job of the batch has such a policy), and
    the decisions they make on top of the catch-up plan. Read inside the claim's transaction,
    after the job rows are held: a run claimed or ended by another daemon is seen."""

    def __init__(self, pending: dict[int, tuple[int, datetime, int, datetime]], running: dict):
        self.pending = pending  # job id: (record id, occurrence, attempt, retry_at) of a retry
        self.running = running  # job id: ids of its runs in progress (allow, replace)

    @classmethod
    def read(cls, jobs: list[Job]) -> PolicyState:
        retrying = [job.pk for job in jobs if job.retries]
        pending = {}
        if retrying:
            rows = JobRun.objects.filter(job_id__in=retrying, retry_at__isnull=False)
            for pk, job_id, scheduled, attempt, at in rows.values_list(
                "pk", "job_id", "scheduled", "attempt", "retry_at"
            ):
                pending[job_id] = (pk, to_aware(scheduled), attempt, to_aware(at))
        running: dict[int, list[int]] = {}
        loose = [job.pk for job in jobs if job.overlap not in HOLDING]
        if loose:
            rows = JobRun.objects.filter(job_id__in=loose, status=Status.RUNNING)
            for pk, job_id in rows.values_list("pk", "job_id"):
                running.setdefault(job_id, []).append(pk)
        return cls(pending, running)

    def retry(self, job: Job, at: datetime) -> Decision | None:
        """The retry the job is due for (its next run is the time its failed attempt's record
        gives), or None: the job is due for an occurrence."""
        pending = self.pending.get(job.pk)
        if pending is None or pending[3] != to_aware(job._next_run):
            return None
        record, scheduled, attempt, retry_at = pending
        sched = build(job, now=at)
        nxt = engine.next_after(sched, after=retry_at)
        return Decision(
            "run",
            scheduled,
            nxt,
            1,
            None,
            attempt=attempt + 1,
            retry_of=record,
            not_before=retry_at,
        )

    def overlap(self, job: Job, decision: Decision, at: datetime) -> Decision:
        """``allow``: a run beyond ``max_instances`` runs in progress is recorded skipped."""
        if decision.action != "run" or job.overlap != ALLOW:
            return decision
        busy = len(self.running.get(job.pk, ()))
        if busy < job.max_instances:
            return decision
        reason = (
            f"{busy} run(s) of the job in progress, as many as its runs at once "
            f"(max_instances {job.max_instances})"
        )
        if decision.retry_of is not None:
            reason = f"retry not run: {reason}"
            nxt = decision.next_run
        else:
            nxt = engine.next_after(build(job, now=at), after=at)
        return replace(decision, action="skip", next_run=nxt, reason=reason)

    def waited(self, job: Job, scheduled: datetime, at: datetime) -> timedelta | None:
        """How long the occurrence waited for the job's run before it (policy ``queue``): from
        its time to the end of the job's latest finished run, if that ended after it. Only a
        late occurrence can have waited: one claimed on time costs no query."""
        if at <= scheduled:
            return None
        ended = (
            JobRun.objects.filter(job_id=job.pk, finished__isnull=False)
            .exclude(status__in=(Status.MISSED, Status.SKIPPED))
            .order_by("-finished")
            .values_list("finished", flat=True)
            .first()
        )
        if ended is None or to_aware(ended) <= scheduled:
            return None
        return to_aware(ended) - scheduled

    def settle_won(self, won: list[Planned]) -> dict[int, tuple[int, ...]]:
        """After the claims were written: retried records are no longer waiting, and the runs
        that new runs replace (``replace``) are recorded interrupted. Returns the replaced runs
        by job."""
        # Every waiting retry of a job claimed now is over: made (the claim is that retry), or
        # dropped (Run now or a new schedule moved the job's next run) so that nothing says it
        # is still to come.
        over = [self.pending[job.pk][0] for job, _, _ in won if job.pk in self.pending]
        if over:
            JobRun.objects.filter(pk__in=over).update(retry_at=None)
        replaced = {}
        for job, decision, run in won:
            runs = self.running.get(job.pk)
            if job.overlap != REPLACE or decision.action != "run" or not runs:
                continue
            when = f"{decision.scheduled:%Y-%m-%d %H:%M:%S} UTC"
            reason = f"replaced by the run of the occurrence {when} (overlap: replace)"
            store.mark_interrupted(runs, reason=reason, now=to_aware(run["started"]))
            replaced[job.pk] = tuple(runs)
        return replaced


def _result(
    job: Job, decision: Decision, run: claimsql.Record, replaces: tuple[int, ...] = ()
) -> Claimed | JobRun:
    if decision.action != "run":
        record = _saved_record(run)
        log.info(
            "job %s occurrence %s %s: %s", job.pk, record.scheduled, record.status, record.error
        )
        return record
    started = to_aware(run["started"])
    _mirror_claim(job, decision, started)
    timeout = job.timeout.total_seconds() if job.timeout else None
    lease_until = to_aware(run["lease_until"])
    return Claimed(
        run["id"],
        job.pk,
        decision.scheduled,
        timeout,
        job,
        lease_until,
        run["pid"] or 0,
        attempt=decision.attempt,
        not_before=decision.not_before,
        replaces=replaces,
    )


def _saved_record(run: claimsql.Record) -> JobRun:
    """The JobRun a record inserted by :func:`claimsql.insert_runs` became."""
    record = JobRun(**run)
    record._state.adding = False
    return record


def _record(
    job: Job, decision: Decision, at: datetime, daemon: DaemonRecord, lease: float, pid: int | None
) -> claimsql.Record:
    """The run record of a decided occurrence, as column values (see claimsql.Record)."""
    run: claimsql.Record = {
        "job_id": job.pk,
        "job_name": job.name,
        "scheduled": to_db(decision.scheduled),
        "host": store.HOST,
        "daemon_id": daemon.pk,
    }
    if decision.attempt != 1:
        run["attempt"] = decision.attempt
    if decision.action == "run":
        run["status"], run["started"], run["pid"] = Status.RUNNING, to_db(at), pid or None
        run["running_for"] = job.pk if job.overlap in HOLDING else None
        run["lease_until"] = to_db(at + timedelta(seconds=lease))
        run["missed_count"] = max(decision.missed - 1, 0)
    elif decision.action == "refuse":
        run["status"], run["finished"] = Status.FAILED, to_db(at)
    else:
        run["status"] = Status.SKIPPED if decision.action == "skip" else Status.MISSED
        run["finished"] = to_db(at)
        run["missed_count"] = decision.missed
        run["error"] = decision.reason
    return run


def _mirror_claim(job: Job, decision: Decision, now: datetime) -> None:
    """Make the in-memory job match the row the claim wrote, so it can be handed to the run;
    what it remembers as loaded takes the values written too (see ``Job.save``)."""
    written = {"_next_run": to_db(decision.next_run)}
    if decision.retry_of is None:  # a retry's occurrence was counted at its first attempt
        written |= {"_run_count": (job._run_count or 0) + 1, "_last_run": to_db(now)}
    if decision.interval_anchor is not None:
        written["_last_interval"] = to_db(decision.interval_anchor)
    job.__dict__.update(written)
    loaded = getattr(job, "_loaded", None)
    if loaded is None:
        job._remember_loaded()
    else:
        loaded.update(written)


# -- ended runs ------------------------------------------------------------------------------


def finish_batch(
    outcomes: list[tuple[Claimed, str, str, datetime]], *, daemon: DaemonRecord
) -> list[int]:
    """Record outcomes (status, error, the time the run's process ended) of runs this daemon
    owns, in one transaction, and settle the occurrences they overlapped. A run this daemon no
    longer owns (its lease ran out and another daemon declared it interrupted) is left alone:
    the write is fenced by owner and state. Returns the ids of the runs recorded."""
    done, ends, failed = [], {}, []
    with transaction.atomic():
        for claimed, status, error, ended in outcomes:
            if store.finish_run(
                claimed.run_id, daemon.pk, status=status, error=error[-ERROR_TAIL:], now=ended
            ):
                done.append(claimed.run_id)
                ends[claimed.job_id] = max(ended, ends.get(claimed.job_id, ended))
                if status in RETRIED and (claimed.job is None or claimed.job.retries):
                    failed.append((claimed, ended))
            else:
                log.warning("run %s was taken from this daemon; its outcome dropped", claimed)
        settle(ends)
        plan_retries(failed)
    return done


def retry_wait(first: timedelta, factor: float, longest: timedelta, attempt: int) -> timedelta:
    """The wait before the retry after ``attempt`` failed: the first wait (``retry_backoff``),
    times the factor (``retry_backoff_factor``) for each attempt after the first, never more
    than the longest wait (``retry_backoff_max``); see docs/guarantees.md."""
    seconds = first.total_seconds() * max(float(factor), 1.0) ** min(attempt - 1, 64)
    return timedelta(seconds=min(seconds, longest.total_seconds()))


def plan_retries(failed: list[tuple[Claimed, datetime]]) -> int:
    """Give each failed run with retries left (as its job now says) a retry: its record says
    when, and the job's next run moves to that time, unless the job's next occurrence comes
    first (then that occurrence runs, and the record says why no retry was made). Inside the
    transaction that recorded the outcomes. Returns how many retries were planned."""
    if not failed:
        return 0
    planned = 0
    for claimed, ended in failed:
        for _ in range(3):  # a peer may move the row in between (allow, replace): read again
            row = (
                Job.objects.filter(pk=claimed.job_id)
                .values(
                    "_next_run",
                    "job_enabled",
                    "retries",
                    "retry_backoff",
                    "retry_backoff_factor",
                    "retry_backoff_max",
                )
                .first()
            )
            if row is None or not row["job_enabled"] or claimed.attempt > row["retries"]:
                break
            wait = retry_wait(
                row["retry_backoff"],
                row["retry_backoff_factor"],
                row["retry_backoff_max"],
                claimed.attempt,
            )
            at = (ended + wait).replace(microsecond=0) + timedelta(seconds=1)
            current = to_aware(row["_next_run"]) if row["_next_run"] is not None else None
            if current is not None and current <= at:
                note = f"no retry: the job's next run, {current:%Y-%m-%d %H:%M:%S} UTC, comes first"
                _add_note(claimed.run_id, note)
                break
            if store.cas_move((claimed.job_id, row["_next_run"], at, None, None)):
                JobRun.objects.filter(pk=claimed.run_id).update(retry_at=to_db(at))
                planned += 1
                log.info(
                    "job %s: attempt %d failed; retry at %s", claimed.job_id, claimed.attempt, at
                )
                break
    return planned


def _add_note(run_id: int, note: str) -> None:
    record = JobRun.objects.filter(pk=run_id)
    error = record.values_list("error", flat=True).first() or ""
    # First: an error's last line (what alerts quote) stays the run's own.
    record.update(error=f"{note}\n{error[-(ERROR_TAIL - len(note) - 1) :]}".strip())


def interrupt(run_ids: list[int], *, reason: str, now: datetime) -> int:
    """Record runs interrupted (counted as runs) and settle what they overlapped."""
    ends = store.mark_interrupted(run_ids, reason=reason, now=now)
    with transaction.atomic():
        settle(ends)
    return len(ends)


def settle(ends: dict[int, datetime]) -> int:
    """For jobs whose run just ended (at the time given), record the occurrences that came
    while it was in progress as one skipped record, and move the job to its first occurrence
    at or after the end; with the overlap policy ``queue``, the latest of them is not skipped
    but stays due (it runs at once). Only jobs overdue at their run's end are touched: usually
    none. Jobs whose runs do not hold them (``allow``, ``replace``) were claimed as usual."""
    if not ends:
        return 0
    jobs = store.jobs_overdue_at(ends)
    # A job row another transaction holds (a peer paused in the middle of one) is left alone:
    # that job is simply due, and its next run coalesces what it missed.
    free = store.lock_jobs([job.pk for job in jobs]) if jobs else set()
    # A job that catches up on every occurrence runs those too, one after the other.
    jobs = [
        job
        for job in jobs
        if job.pk in free and job.catch_up != catchup.ALL and job.overlap in HOLDING
    ]
    daysets.load_saved(jobs)
    settled = 0
    for job in jobs:
        end = ends[job.pk]
        scheduled = to_aware(job._next_run)
        sched = build(job, now=end)
        count = occurrences_until(sched, scheduled, end - JUST_BEFORE)
        nxt = engine.next_after(sched, after=end - JUST_BEFORE)
        why = "the previous run was still in progress"
        if job.overlap == QUEUE:
            if count <= 1:
                continue  # the one occurrence that came waits: it is due, and runs now
            nxt, count = catchup.last_before(sched, scheduled, end), count - 1
            why += "; the latest occurrence waited for it instead (overlap: queue)"
        run: claimsql.Record = {
            "job_id": job.pk,
            "job_name": job.name,
            "scheduled": to_db(scheduled),
            "status": Status.SKIPPED,
            "finished": to_db(end),
            "missed_count": count,
            "error": why,
            "host": store.HOST,
        }

        def write(job: Job = job, nxt: datetime | None = nxt, run: claimsql.Record = run) -> None:
            if store.cas_job(job, next_run=nxt, anchor=_anchor(job, to_aware(job._next_run))):
                claimsql.insert_claims([run])

        if store.in_savepoint(write) and run.get("id") is not None:
            settled += 1
            log.info("job %s: %d occurrence(s) skipped: its run was in progress", job.pk, count)
    return settled
