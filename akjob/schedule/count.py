"""How many run times a schedule has in a span, counted without listing them.

After a gap (a daemon that was stopped, a machine that slept) the daemon wants to know how many
occurrences it missed. Listing them one by one costs in proportion to their number: a job every
second, 30 days late, has 2.6 million. Here each source counts its own run times by arithmetic
(:meth:`~akjob.schedule.sources.Runner.count`, or day by day with the limits folded in:
:mod:`akjob.schedule.overlap`), and the run times several sources share are taken away by
inclusion–exclusion (|A ∪ B| = |A| + |B| − |A ∩ B|), counted by arithmetic too. The work grows
with the days and offset changes in the span, not with the runs. The span is taken 32 days at a
time, so that a count that reaches ``cap`` or ``remaining`` stops there.
"""

from __future__ import annotations

from datetime import datetime

from akjob.schedule.calculator import Compiled, compile_schedule, make_search, seconds_arg
from akjob.schedule.cron import Cron
from akjob.schedule.limits import Allowed
from akjob.schedule.overlap import Group
from akjob.schedule.sources import Dates, FixedTime, Interval, Runner
from akjob.schedule.spec import Schedule
from akjob.schedule.zones import DAY, MAX_INSTANT, MIN_INSTANT

__all__ = ["count_between"]

#: Busy sources in one stretch beyond which shared run times are listed rather than counted by
#: inclusion–exclusion (whose groups double with every source).
MAX_SHARING = 6
#: The span is counted in chunks of this many seconds, so that a count stopped by ``cap`` or
#: ``remaining`` stops early.
CHUNK = 32 * DAY
#: The sources whose run times akjob/schedule/overlap.py counts with the limits folded in.
KNOWN = (Interval, Dates, Cron, FixedTime)


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

    The time taken grows with the days and daylight saving changes between ``start`` and ``end``,
    never with the number of run times, with two exceptions (docs/schedule.md): a dates source's
    own dates in the span are tested one by one where limits apply or other sources may share
    them, and with more than MAX_SHARING sources busy in the same 32 days the run times of all
    but the densest are listed.
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
    groups = _groups_of(compiled)
    found, low = 0, begin
    while low <= last and found < budget:
        high = min(low + CHUNK - 1, last)
        found += _chunk(runners, allowed, groups, low, high, budget - found)
        low = high + 1
    return min(found, budget)


def _chunk(
    runners: tuple[Runner, ...],
    allowed: Allowed | None,
    groups: dict[tuple[int, ...], Group],
    begin: int,
    end: int,
    budget: int,
) -> int:
    """The run times in [begin, end]: each source's, less those shared (inclusion–exclusion).
    Once ``budget`` is reached, possibly fewer."""
    stretches: list[tuple[int, int]] | None = None
    counts = []
    for index, runner in enumerate(runners):
        if allowed is None:
            counts.append(runner.count(begin, end))
        elif isinstance(runner, KNOWN):
            # The limits folded in, day by day (see akjob/schedule/overlap.py).
            counts.append(_group(groups, runners, (index,), allowed).count(begin, end))
        else:
            if stretches is None:
                stretches = _stretches(allowed, begin, end)
            counts.append(sum(runner.count(low, high) for low, high in stretches))
    busy = [index for index, count in enumerate(counts) if count]
    found = sum(counts)
    if len(busy) < 2 or max(counts) >= budget:  # the union has at least the most of one
        return found
    if len(busy) <= MAX_SHARING:
        return found + _overlaps(runners, allowed, groups, busy, begin, end)
    if stretches is None:
        stretches = [(begin, end)] if allowed is None else _stretches(allowed, begin, end)
    found = 0
    for low, high in stretches:
        found += _listed_union(runners, low, high, budget - found)
        if found >= budget:
            break
    return found


def _stretches(allowed: Allowed, begin: int, end: int) -> list[tuple[int, int]]:
    """The allowed stretches of [begin, end], window to window."""
    found, instant = [], begin
    while instant <= end and (opening := allowed.first(instant, end)) is not None:
        close = allowed.last_of_stretch(opening, end)
        found.append((opening, close))
        instant = close + 1
    return found


#: The groups read for each compiled schedule, kept while it stays in the compiled cache.
_GROUPS: dict[int, tuple[Compiled, dict[tuple[int, ...], Group]]] = {}
MAX_GROUPS = 256


def _groups_of(compiled: Compiled) -> dict[tuple[int, ...], Group]:
    found = _GROUPS.get(id(compiled))
    if found is not None and found[0] is compiled:
        return found[1]
    if len(_GROUPS) >= MAX_GROUPS:
        _GROUPS.clear()
    groups: dict[tuple[int, ...], Group] = {}
    _GROUPS[id(compiled)] = (compiled, groups)
    return groups


def _group(
    groups: dict[tuple[int, ...], Group],
    runners: tuple[Runner, ...],
    members: tuple[int, ...],
    allowed: Allowed | None,
) -> Group:
    group = groups.get(members)
    if group is None:
        group = groups[members] = Group([runners[i] for i in members], allowed)
    return group


def _overlaps(
    runners: tuple[Runner, ...],
    allowed: Allowed | None,
    groups: dict[tuple[int, ...], Group],
    busy: list[int],
    begin: int,
    end: int,
) -> int:
    """The inclusion–exclusion terms past the single sources: − the allowed times each pair
    shares, + those each three share, … A group that shares nothing is not grown further (no
    larger group can share more)."""
    total = 0
    sets: list[tuple[int, ...]] = [(index,) for index in busy]
    sign = -1
    while sets:
        larger = []
        for members in sets:
            for index in busy:
                if index <= members[-1]:
                    continue
                grown = (*members, index)
                common = _group(groups, runners, grown, allowed).count(begin, end)
                if common:
                    total += sign * common
                    larger.append(grown)
        sets, sign = larger, -sign
    return total


def _listed_union(runners: tuple[Runner, ...], begin: int, end: int, budget: int) -> int:
    """With many busy sources, in one allowed stretch: the densest counted, the run times of
    the others listed."""
    counts = [runner.count(begin, end) for runner in runners]
    densest = max(range(len(runners)), key=counts.__getitem__)
    found = counts[densest]
    others = [r for i, r in enumerate(runners) if i != densest and counts[i]]
    if found >= budget:
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
