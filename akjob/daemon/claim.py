"""Claiming occurrences and recording their outcomes.

An occurrence is (job, scheduled time). A daemon claims one with a compare-and-set on the job row
(``_next_run`` still equal to the occurrence, no run in progress) and a ``JobRun`` row that is
unique per occurrence, in one transaction: exactly one daemon wins, on every database. Where the
database can (PostgreSQL, MySQL 8, MariaDB 10.6+), the job rows are locked ``SKIP LOCKED`` first,
so several daemons take different due jobs rather than queueing for the same rows. Every later
write about the run is fenced by the run's owner and state, so a daemon that was paused past its
lease and whose run was meanwhile declared interrupted cannot count it twice.
"""

from __future__ import annotations

import logging
import socket
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from django.db import IntegrityError, models, transaction

from akjob import schedule as engine
from akjob.daemon import sql
from akjob.jobschedule import build
from akjob.models import DaemonRecord, Job, JobRun, last_grid_point
from akjob.timeutil import to_aware, to_db

log = logging.getLogger("akjob.daemon")

Status = JobRun.Status
MISSED_COUNT_CAP = 10_000
HOST = socket.gethostname()


@dataclass(frozen=True)
class Claimed:
    """A run this daemon owns and must execute (``job`` is the row as claimed; ``lease_until``
    its lease as this daemon last wrote it: past that, other daemons may declare it dead, so
    it must not start any more)."""

    run_id: int
    job_id: int
    scheduled: datetime
    timeout: float | None
    job: Job | None = field(default=None, compare=False, repr=False)
    lease_until: datetime | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Decision:
    """What to do with a due occurrence: ``run``, ``skip`` (overlap) or ``miss`` (too late)."""

    action: str
    scheduled: datetime
    next_run: datetime | None
    missed: int
    interval_anchor: datetime | None


def decide(job: Job, *, now: datetime) -> Decision:
    """Pure decision for a due job (``_next_run <= now``), from its state and schedule."""
    scheduled = to_aware(job._next_run)
    sched = build(job, now=now)
    coalesced = _occurrences_until(sched, scheduled, now)
    anchor = None
    if job.run_every is not None and job._last_interval is not None:
        anchor = last_grid_point(to_aware(job._last_interval), job.run_every, scheduled)
    if job._job_running:
        action = "skip"
    elif job.misfire_grace is not None and now - scheduled > job.misfire_grace:
        action = "miss"
    else:
        action = "run"
    if action == "run" and sched.remaining is not None:
        sched = replace(sched, remaining=sched.remaining - 1)
    return Decision(action, scheduled, engine.next_after(sched, after=now), coalesced, anchor)


def _occurrences_until(sched: engine.Schedule, scheduled: datetime, now: datetime) -> int:
    """How many occurrences fall in [scheduled, now] (the due one included), capped."""
    count, t = 1, scheduled
    while count < MISSED_COUNT_CAP:
        t = engine.next_after(sched, after=t)
        if t is None or t > now:
            break
        count += 1
    return count


def claim(
    job: Job, *, now: datetime, daemon: DaemonRecord, lease: float, pid: int
) -> Claimed | JobRun | None:
    """Act on one due job: see :func:`claim_batch`."""
    result = claim_batch([job], now=now, daemon=daemon, lease=lease, pid=pid)
    return result[0] if result else None


def claim_batch(
    jobs: list[Job],
    *,
    now: datetime,
    daemon: DaemonRecord,
    lease: float,
    pid: int,
    locked: bool = False,
) -> list[Claimed | JobRun]:
    """Act on due jobs, in one transaction. Returns a Claimed run to execute, or the skipped or
    missed record, for each job this daemon won; jobs another daemon (or an edit) got first are
    left out.

    ``locked``: the caller's transaction already holds the jobs' rows (read ``FOR UPDATE``);
    otherwise the rows no other transaction holds are locked first and the others left out.

    A job due a moment from now may be claimed ahead of time (the daemon's look-ahead): it is then
    treated exactly as if claimed at its scheduled time, and its run waits for that time.
    """
    if not jobs:
        return []
    won: list[tuple[Job, Decision, JobRun]] = []
    with transaction.atomic(savepoint=False):
        free = {job.pk for job in jobs} if locked else sql.lock_jobs([job.pk for job in jobs])
        for job in jobs:
            if job.pk not in free:
                continue  # another daemon is at this row right now: its claim, not ours
            if job.deleteme:  # set by another process since the last run
                log.info("job %s (%s) deleted: deleteme was set", job.pk, job.name)
                job.delete()
                continue
            at = max(now, to_aware(job._next_run))
            decision = decide(job, now=at)
            run = _record(job, decision, at, daemon=daemon, lease=lease, pid=pid)
            claim_at = at if decision.action == "run" else None
            if sql.cas_job(
                job, next_run=decision.next_run, anchor=decision.interval_anchor, claim_at=claim_at
            ):
                won.append((job, decision, run))
        _insert([run for _, _, run in won])
    results: list[Claimed | JobRun] = []
    for job, decision, run in won:
        if run.pk is None:
            continue  # its occurrence already had a record
        if decision.action != "run":
            log.info("job %s occurrence %s %s: %s", job.pk, run.scheduled, run.status, run.error)
            results.append(run)
            continue
        _mirror_claim(job, decision, to_aware(run.started))
        timeout = job.timeout.total_seconds() if job.timeout else None
        lease_until = to_aware(run.lease_until)
        results.append(Claimed(run.pk, job.pk, decision.scheduled, timeout, job, lease_until))
    return results


def _record(
    job: Job, decision: Decision, at: datetime, *, daemon: DaemonRecord, lease: float, pid: int
) -> JobRun:
    run = JobRun(
        job_id=job.pk,
        job_name=job.name,
        scheduled=to_db(decision.scheduled),
        host=HOST,
        daemon=daemon,
    )
    if decision.action == "run":
        run.status, run.started, run.pid = Status.RUNNING, to_db(at), pid
        run.lease_until = to_db(at + timedelta(seconds=lease))
        run.missed_count = max(decision.missed - 1, 0)
    else:
        run.status = Status.SKIPPED if decision.action == "skip" else Status.MISSED
        run.finished = to_db(at)
        run.missed_count = decision.missed
        run.error = _why_not(decision, job, at)
    return run


def _insert(runs: list[JobRun]) -> None:
    """Insert the run records (one statement); fall back to one by one on a conflict."""
    if not runs:
        return
    try:
        with transaction.atomic():
            sql.insert_runs(runs)
    except IntegrityError:
        for run in runs:
            run.pk = None
            try:
                with transaction.atomic():
                    run.save(force_insert=True)
            except IntegrityError:
                run.pk = None
        return
    for run in runs:
        if run.pk is None:  # a database that returns no ids from bulk inserts
            run.pk = (
                JobRun.objects.filter(job_id=run.job_id, scheduled=run.scheduled)
                .values_list("pk", flat=True)
                .first()
            )


def _mirror_claim(job: Job, decision: Decision, now: datetime) -> None:
    """Make the in-memory job match the row the claim wrote, so it can be handed to the run."""
    job._next_run = to_db(decision.next_run)
    job._job_running = True
    job._run_count = (job._run_count or 0) + 1
    job._last_run = to_db(now)
    if decision.interval_anchor is not None:
        job._last_interval = to_db(decision.interval_anchor)
    job._remember_loaded()


def _why_not(decision: Decision, job: Job, now: datetime) -> str:
    if decision.action == "skip":
        return "the previous run was still in progress"
    late = (now - decision.scheduled).total_seconds()
    return (
        f"{decision.missed} occurrence(s) missed: {late:.0f} s late, "
        f"misfire_grace is {job.misfire_grace.total_seconds():.0f} s"
    )


def finish(
    claimed: Claimed, *, daemon: DaemonRecord, status: str, error: str, now: datetime
) -> bool:
    """Record the outcome of one run this daemon owns; see :func:`finish_batch`."""
    return bool(finish_batch([(claimed, status, error)], daemon=daemon, now=now))


def finish_batch(
    outcomes: list[tuple[Claimed, str, str]], *, daemon: DaemonRecord, now: datetime
) -> list[int]:
    """Record outcomes of runs this daemon owns, in one transaction. A run this daemon no longer
    owns (its lease ran out and another daemon declared it interrupted) is left alone: the write
    is fenced by owner and state. Returns the ids of the runs recorded."""
    done: list[Claimed] = []
    with transaction.atomic():
        for claimed, status, error in outcomes:
            if sql.finish_run(
                claimed.run_id, daemon.pk, status=status, error=error[-8000:], now=now
            ):
                done.append(claimed)
            else:
                log.warning("run %s was taken from this daemon; its outcome dropped", claimed)
        if done:
            Job.objects.filter(pk__in={c.job_id for c in done}).update(_job_running=False)
    return [c.run_id for c in done]


CHUNK = 500  # job ids per statement when many are at hand (SQLite limits a statement's parameters)


def prune_jobs(job_ids: set[int], keep: int) -> int:
    """Delete the oldest run records of these jobs beyond ``keep`` each (one counting query per
    CHUNK jobs, when none has too many)."""
    ids, over = sorted(job_ids), []
    for start in range(0, len(ids), CHUNK):
        over += (
            JobRun.objects.filter(job_id__in=ids[start : start + CHUNK])
            .values("job_id")
            .annotate(n=models.Count("id"))
            .filter(n__gt=keep)
            .values_list("job_id", flat=True)
        )
    return sum(prune(job_id, keep) for job_id in over)


def prune(job_id: int, keep: int) -> int:
    """Delete the job's oldest run records beyond ``keep``."""
    old = list(
        JobRun.objects.filter(job_id=job_id)
        .order_by("-scheduled", "-id")
        .values_list("pk", flat=True)[keep:]
    )
    if not old:
        return 0
    return JobRun.objects.filter(pk__in=old).delete()[0]


def interrupt(runs: list[int], *, reason: str, now: datetime) -> tuple[int, set[int]]:
    """Mark still-running runs interrupted (counted as runs) and free their jobs.

    Each run is marked by a statement of its own, and the jobs freed after, skipping job rows
    another transaction holds: a peer stopped in the middle of a claim keeps those rows locked
    and must not keep its dead runs from being declared. Returns how many runs were marked and
    the ids of the jobs left marked running, for :func:`free_jobs` to retry."""
    done, jobs = 0, set()
    for run_id in runs:
        row = JobRun.objects.filter(pk=run_id, status=Status.RUNNING)
        job_id = row.values_list("job_id", flat=True).first()
        if row.update(status=Status.INTERRUPTED, error=reason, finished=to_db(now)):
            done += 1
            if job_id is not None:
                jobs.add(job_id)
    return done, jobs - free_jobs(jobs)


def free_jobs(job_ids: set[int]) -> set[int]:
    """Clear the running mark of these jobs where no run of theirs is running any more, skipping
    rows another transaction holds (where the database can). Returns the ids settled: freed, or
    found with a run in progress (nothing to free)."""
    ids, settled = sorted(job_ids), set()
    for start in range(0, len(ids), CHUNK):
        with transaction.atomic():
            free = sql.lock_jobs(ids[start : start + CHUNK])
            busy = set(
                JobRun.objects.filter(job_id__in=free, status=Status.RUNNING).values_list(
                    "job_id", flat=True
                )
            )
            Job.objects.filter(pk__in=free - busy, _job_running=True).update(_job_running=False)
        settled |= free
    return settled


def orphaned_jobs() -> set[int]:
    """Jobs marked running with no run in progress: left so by an interrupt that found the job's
    row locked, or by a database restored from a backup."""
    running = JobRun.objects.filter(status=Status.RUNNING).values("job_id")
    return set(
        Job.objects.filter(_job_running=True).exclude(pk__in=running).values_list("pk", flat=True)
    )
