"""How many run times a schedule has in a span, counted without listing them.

After a gap (a daemon that was stopped, a machine that slept) the daemon wants to know how many
occurrences it missed. Listing them one by one costs in proportion to their number: a job every
second, 30 days late, has 2.6 million. Here each source counts its own run times in a stretch of
time by arithmetic (:meth:`~akjob.schedule.sources.Runner.count`), and the limits are walked
stretch by stretch (:meth:`~akjob.schedule.limits.Allowed.last_of_stretch`), so the work grows
with the days and offset changes in the span, not with the runs.
"""

from __future__ import annotations

from datetime import datetime

from akjob.schedule.calculator import compile_schedule, make_search, seconds_arg
from akjob.schedule.sources import Runner
from akjob.schedule.spec import Schedule
from akjob.schedule.zones import MAX_INSTANT, MIN_INSTANT

__all__ = ["count_between"]


def count_between(
    schedule: Schedule, *, start: datetime, end: datetime, cap: int | None = None
) -> int:
    """The number of run times t of ``schedule`` with ``start`` <= t <= ``end``.

    Both ends are included: ``start`` counts when it is a run time itself (a fraction of a second
    rounds ``start`` up and ``end`` down, to the engine's whole seconds). The run times are
    exactly those :func:`~akjob.schedule.next_at_or_after` and
    :func:`~akjob.schedule.upcoming` give: the union of the sources (a time two sources share
    counts once), filtered by every limit. As with ``upcoming``, a schedule never has more run
    times than it has ``remaining``, so the count stops there; ``cap`` (a whole number >= 0)
    stops it earlier, and then the search stops too. Aware datetimes only; ``end`` before
    ``start`` gives 0.

    The time taken grows with the days and daylight saving changes between ``start`` and ``end``
    (and with the windows the limits open in them), never with the number of run times, with one
    exception: when two or more sources have run times in a stretch, the run times of all but the
    densest are listed to find those they share with it.
    """
    begin = seconds_arg("start", start, ceil=True)
    last = seconds_arg("end", end)
    if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int) or cap < 0):
        raise ValueError(f"cap must be a whole number >= 0, not {cap!r}")
    budget = min(n for n in (schedule.remaining, cap, MAX_INSTANT) if n is not None)
    begin, last = max(begin, MIN_INSTANT), min(last, MAX_INSTANT)
    if schedule.jitter and budget > 0 and begin <= last:
        return _jittered(schedule, begin, last, budget)
    compiled = compile_schedule(schedule) if budget > 0 else None
    if compiled is None or last < begin:
        return 0
    runners, allowed = compiled.runners, compiled.allowed
    if allowed is None:
        return min(_union(runners, begin, last, budget), budget)
    found, instant = 0, begin
    while instant <= last and found < budget:
        opening = allowed.first(instant, last)
        if opening is None:
            break
        close = allowed.last_of_stretch(opening, last)
        found += _union(runners, opening, close, budget - found)
        instant = close + 1
    return min(found, budget)


def _union(runners: tuple[Runner, ...], begin: int, end: int, budget: int) -> int:
    """Run times of any runner in [begin, end]; once ``budget`` is reached, possibly fewer."""
    counts = [runner.count(begin, end) for runner in runners]
    densest = max(range(len(runners)), key=counts.__getitem__)
    found = counts[densest]
    others = [r for i, r in enumerate(runners) if i != densest and counts[i]]
    if not others or found >= budget:
        return found
    dense, seen = runners[densest], set()
    for runner in others:
        instant = begin
        while found < budget and (run := runner.first(instant, end)) is not None and run <= end:
            if run not in seen and dense.first(run, run) != run:
                seen.add(run)
                found += 1
            instant = run + 1
    return found


def _jittered(schedule: Schedule, begin: int, last: int, budget: int) -> int:
    """With jitter the limits apply to each moved time, so the moved times are listed (the cost
    grows with them, up to ``budget``)."""
    search = make_search(schedule, begin)
    found, instant = 0, begin
    while search is not None and found < budget:
        run = search.first(instant)
        if run is None or run > last:
            break
        found += 1
        instant = run + 1
    return found
