"""What a due job's late occurrences become, by its ``catch_up`` policy (docs/guarantees.md,
"Late runs: catch-up and misfires").

Pure: a schedule, the due occurrence and the time in, a :class:`Plan` out. Occurrences are
counted with :func:`~akjob.schedule.count_between`, never walked, so a job every second that
is 30 days late is decided as fast as one that is a second late.

* ``once``: the due occurrence runs, standing for every occurrence up to now (they coalesce).
* ``none``: when more than one occurrence is due, all of them are recorded missed, and the job
  waits for its next occurrence after now; a single due occurrence still runs.
* ``all``: the due occurrence runs alone and the job's next run is its next occurrence, which
  may be due already: every occurrence runs, oldest first, at most ``cap`` of those due at a
  decision; the older ones are recorded missed first.

``misfire_grace`` keeps its meaning on top of each: an occurrence later than the grace does not
run (with ``all``, those within the grace still do).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from akjob import schedule as engine

__all__ = ["POLICIES", "Plan", "last_before", "plan"]

ONCE, NONE, ALL = "once", "none", "all"
POLICIES = (ONCE, NONE, ALL)
SECOND = timedelta(seconds=1)
#: The most occurrences a run record can say it stands for.
MISSED_COUNT_CAP = 2**31 - 1


@dataclass(frozen=True)
class Plan:
    """``run`` the occurrence ``scheduled`` or record it ``miss``-ed (with ``missed``
    occurrences from it on, and ``reason``); either way the job moves to ``next_run``. For a
    run, ``missed`` is how many occurrences it stands for (1: only its own)."""

    action: str
    scheduled: datetime
    next_run: datetime | None
    missed: int
    reason: str = ""


def count(sched: engine.Schedule, start: datetime, end: datetime) -> int:
    """Occurrences in [start, end], whatever the run count limit says is left."""
    free = sched if sched.remaining is None else replace(sched, remaining=None)
    if end < start:
        return 0
    return engine.count_between(free, start=start, end=end, cap=MISSED_COUNT_CAP)


def since(sched: engine.Schedule, scheduled: datetime, end: datetime) -> int:
    """Occurrences from the due one (``scheduled``, counted whether or not the schedule still
    has it) to ``end``."""
    return min(1 + count(sched, scheduled + SECOND, end), MISSED_COUNT_CAP)


def _after_run(sched: engine.Schedule, after: datetime) -> datetime | None:
    """The next occurrence after ``after`` once this run is counted."""
    if sched.remaining is not None:
        sched = replace(sched, remaining=max(sched.remaining - 1, 0))
    return engine.next_after(sched, after=after)


def plan(
    sched: engine.Schedule,
    *,
    policy: str,
    scheduled: datetime,
    now: datetime,
    grace: timedelta | None,
    cap: int,
) -> Plan:
    """The plan for the occurrence ``scheduled``, due at ``now`` (see the module docstring).
    A job with no run left under its run count limit is never run: ValueError (its row was made
    due outside akjob; the daemon records it failed and leaves the job unscheduled)."""
    if sched.remaining is not None and sched.remaining <= 0:
        raise ValueError("its run count limit is used up, yet its row says it is due")
    scheduled = scheduled.replace(microsecond=0)
    if policy == ALL:
        return _all(sched, scheduled, now, grace, cap)
    on_time = grace is None or now - scheduled <= grace
    if on_time and sched.remaining is None:
        # The usual case, a job due once: one question answers both how many occurrences are
        # due and the next run (the first after the due one, when it is still to come).
        after = engine.next_after(sched, after=scheduled)
        if after is None or after > now:
            return Plan("run", scheduled, after, 1)
    due = since(sched, scheduled, now)
    if grace is not None and now - scheduled > grace:
        late = (now - scheduled).total_seconds()
        reason = (
            f"{due} occurrence(s) missed: {late:.0f} s late, "
            f"misfire_grace is {grace.total_seconds():.0f} s"
        )
        return Plan("miss", scheduled, engine.next_after(sched, after=now), due, reason)
    if policy == NONE and due > 1:
        reason = f"{due} occurrence(s) missed: catch_up is none, and they were all due at once"
        return Plan("miss", scheduled, engine.next_after(sched, after=now), due, reason)
    return Plan("run", scheduled, _after_run(sched, now), due)


def _all(
    sched: engine.Schedule, scheduled: datetime, now: datetime, grace: timedelta | None, cap: int
) -> Plan:
    first: datetime | None = scheduled
    why = ""
    if grace is not None and now - scheduled > grace:
        first = engine.next_at_or_after(_free(sched), at=now - grace)
        why = f"later than misfire_grace ({grace.total_seconds():.0f} s)"
    if first is not None and first <= now and count(sched, first, now) > cap:
        first = _last_ones(sched, first, now, cap)
        why = f"beyond AKJOB_CATCH_UP_MAX ({cap} at a time)"
    if first is None or first > now:
        missed = since(sched, scheduled, now)
        reason = f"{missed} occurrence(s) missed: {why}"
        return Plan("miss", scheduled, engine.next_after(sched, after=now), missed, reason)
    if first > scheduled:
        missed = since(sched, scheduled, first - SECOND)
        reason = f"{missed} occurrence(s) missed: {why}"
        return Plan("miss", scheduled, first, missed, reason)
    return Plan("run", scheduled, _after_run(sched, scheduled), 1)


def last_before(sched: engine.Schedule, first: datetime, end: datetime) -> datetime:
    """The latest occurrence from ``first`` (an occurrence) to just before ``end``."""
    last = end - timedelta(microseconds=1)
    if count(sched, first, last) <= 1:
        return first
    return _last_ones(sched, first, last, 1)


def _free(sched: engine.Schedule) -> engine.Schedule:
    return sched if sched.remaining is None else replace(sched, remaining=None)


def _last_ones(sched: engine.Schedule, first: datetime, now: datetime, cap: int) -> datetime:
    """The occurrence from which exactly ``cap`` occurrences lie up to ``now`` (there are more
    than ``cap`` from ``first``): found by halving the span, counting each time."""
    # count(first + low s, now) >= cap > count(first + high s, now)
    low, high = 0, int((now - first) / SECOND) + 1
    while high - low > 1:
        middle = (low + high) // 2
        if count(sched, first + middle * SECOND, now) >= cap:
            low = middle
        else:
            high = middle
    # The latest second from which cap occurrences remain is an occurrence itself.
    found = engine.next_at_or_after(_free(sched), at=first + low * SECOND)
    return found if found is not None else first
