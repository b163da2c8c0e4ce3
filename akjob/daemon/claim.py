"""Claiming occurrences and recording their outcomes.

An occurrence is (job, scheduled time). A daemon claims one with a compare-and-set on the job row
(``_next_run`` still equal to the occurrence, no run in progress) and a ``JobRun`` row that is
unique per occurrence, in one transaction: exactly one daemon wins, on every database. Every
later write about the run is fenced by the run's owner and state, so a daemon that was paused past
its lease and whose run was meanwhile declared interrupted cannot count it twice.
"""

from __future__ import annotations

import logging
import socket
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import F

from akjob import schedule as engine
from akjob.jobschedule import build
from akjob.models import DaemonRecord, Job, JobRun, last_grid_point
from akjob.timeutil import to_aware, to_db

log = logging.getLogger("akjob.daemon")

Status = JobRun.Status
MISSED_COUNT_CAP = 10_000
HOST = socket.gethostname()


@dataclass(frozen=True)
class Claimed:
    """A run this daemon owns and must execute."""

    run_id: int
    job_id: int
    scheduled: datetime
    timeout: float | None


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


def _advance(job: Job, decision: Decision, **extra: object) -> int:
    """Compare-and-set the job row from the decided occurrence to the next one."""
    values = {"_next_run": to_db(decision.next_run), **extra}
    if decision.interval_anchor is not None:
        values["_last_interval"] = to_db(decision.interval_anchor)
    return Job.objects.filter(
        pk=job.pk, _next_run=to_db(decision.scheduled), _job_running=job._job_running
    ).update(**values)


def claim(
    job: Job, *, now: datetime, daemon: DaemonRecord, lease: float, pid: int
) -> Claimed | JobRun | None:
    """Act on one due job. Returns the Claimed run to execute, the skipped/missed record, or None
    when another daemon (or an edit) got there first.

    A job due a moment from now may be claimed ahead of time (the daemon's look-ahead): it is then
    treated exactly as if claimed at its scheduled time, and its process waits for that time.
    """
    now = max(now, to_aware(job._next_run))
    decision = decide(job, now=now)
    run = JobRun(
        job_id=job.pk,
        job_name=job.name,
        scheduled=to_db(decision.scheduled),
        host=HOST,
        daemon=daemon,
    )
    try:
        with transaction.atomic():
            if decision.action == "run":
                won = _advance(
                    job,
                    decision,
                    _job_running=True,
                    _run_count=F("_run_count") + 1,
                    _last_run=to_db(now),
                )
                run.status, run.started, run.pid = Status.RUNNING, to_db(now), pid
                run.lease_until = to_db(now + timedelta(seconds=lease))
                run.missed_count = max(decision.missed - 1, 0)
            else:
                won = _advance(job, decision)
                run.status, run.finished = (
                    (Status.SKIPPED, to_db(now))
                    if decision.action == "skip"
                    else (Status.MISSED, to_db(now))
                )
                run.missed_count = decision.missed
                run.error = _why_not(decision, job, now)
            if not won:
                return None
            run.save(force_insert=True)
    except IntegrityError:
        return None  # the occurrence already has a record: another daemon claimed it
    if decision.action != "run":
        log.info("job %s occurrence %s %s: %s", job.pk, decision.scheduled, run.status, run.error)
        return run
    timeout = job.timeout.total_seconds() if job.timeout else None
    return Claimed(run.pk, job.pk, decision.scheduled, timeout)


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
    """Record the outcome of a run this daemon owns. False if it no longer owns it (fenced)."""
    with transaction.atomic():
        updated = JobRun.objects.filter(
            pk=claimed.run_id, daemon=daemon, status=Status.RUNNING
        ).update(status=status, error=error[-8000:], finished=to_db(now), lease_until=None)
        if updated:
            Job.objects.filter(pk=claimed.job_id).update(_job_running=False)
    if not updated:
        log.warning("run %s was taken from this daemon (lease expired); outcome dropped", claimed)
    return bool(updated)


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


def interrupt(runs: list[int], *, reason: str, now: datetime) -> int:
    """Mark still-running runs interrupted (counted as runs) and free their jobs."""
    done = 0
    for run_id in runs:
        with transaction.atomic():
            row = JobRun.objects.filter(pk=run_id, status=Status.RUNNING)
            job_id = row.values_list("job_id", flat=True).first()
            if row.update(status=Status.INTERRUPTED, error=reason, finished=to_db(now)):
                done += 1
                if job_id is not None:
                    Job.objects.filter(pk=job_id).update(_job_running=False)
    return done
