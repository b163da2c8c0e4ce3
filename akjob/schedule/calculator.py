"""A schedule's run times: the union of its sources, filtered by its limits (docs/schedule.md).

The search never steps through candidate minutes. Each source answers "my first run time at or
after t" and the limits answer "the first allowed instant at or after t", both by arithmetic.
The search takes the earliest source candidate c; if the limits allow it, c is the answer;
otherwise the search resumes at the next allowed instant. Every resumption moves forward past a
rejected candidate, and the search is bounded twice: by a horizon of 400 years after its start
(the calendar repeats every 400 years) and by a number of resumptions.

Time is an argument: nothing here reads the clock. Results are aware UTC datetimes, whole seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import lru_cache

from akjob.schedule.days import CYCLE
from akjob.schedule.jitter import JitteredSearch
from akjob.schedule.limits import Allowed
from akjob.schedule.sources import Never, Runner, compile_source
from akjob.schedule.spec import SECOND, Limits, Schedule
from akjob.schedule.zones import (
    DAY,
    MAX_INSTANT,
    MIN_INSTANT,
    ceil_seconds,
    floor_seconds,
    to_datetime,
)

__all__ = ["next_after", "next_at_or_after", "upcoming"]

#: How far past its start a search looks: one full turn of the Gregorian calendar.
HORIZON = CYCLE * DAY
#: How often a search may resume after the limits rejected a candidate.
MAX_STEPS = 10_000
_NONE_LEFT = MAX_INSTANT + 1


@dataclass(frozen=True, slots=True)
class Compiled:
    runners: tuple[Runner, ...]
    allowed: Allowed | None  # None: no limits


def compile_schedule(schedule: Schedule) -> Compiled | None:
    """The schedule ready to search, or None when it can have no run time at all.

    Compiled forms hold no search state, so equal schedules share one (the Django layer builds a
    new, equal Schedule for every question about a job).
    """
    try:
        return _compile_cached(schedule)
    except TypeError:  # a tzinfo that cannot be hashed
        return _compile(schedule)


@lru_cache(maxsize=512)
def _compile_cached(schedule: Schedule) -> Compiled | None:
    return _compile(schedule)


def compile_limits(limits: Limits) -> tuple[Allowed | None, bool]:
    """The limits ready to search (None: they limit nothing), and whether any day passes them.
    Compiled once for equal limits: jobs with schedules of their own (each interval its own
    anchor) mostly share their limits, often none at all."""
    try:
        return _compile_limits_cached(limits)
    except TypeError:  # a tzinfo that cannot be hashed
        return _compile_limits(limits)


@lru_cache(maxsize=512)
def _compile_limits_cached(limits: Limits) -> tuple[Allowed | None, bool]:
    return _compile_limits(limits)


def _compile_limits(limits: Limits) -> tuple[Allowed | None, bool]:
    allowed = Allowed(limits)
    if allowed.is_open:
        return None, True
    return allowed, allowed.days.possible()


def _compile(schedule: Schedule) -> Compiled | None:
    if not schedule.enabled or schedule.remaining == 0 or not schedule.sources:
        return None
    allowed, possible = compile_limits(schedule.limits)
    if not possible:
        return None
    runners = [compile_source(source, allowed) for source in schedule.sources]
    runners = [runner for runner in runners if not isinstance(runner, Never)]
    return Compiled(tuple(runners), allowed) if runners else None


class Search:
    """One search through a schedule's run times, from ``start`` on, in increasing order."""

    __slots__ = ("runners", "allowed", "horizon", "known")

    def __init__(self, compiled: Compiled, start: int) -> None:
        self.runners = compiled.runners
        self.allowed = compiled.allowed
        self.horizon = min(start + HORIZON, MAX_INSTANT)
        # known[i]: the first run time of source i at or after an earlier query point. Queries
        # never go back, so it stays the answer for any later query point it is not before.
        self.known = [start - 1] * len(self.runners)

    def first(self, instant: int) -> int | None:
        """The first run time at or after ``instant`` (not before the previous query)."""
        horizon, allowed, known = self.horizon, self.allowed, self.known
        for _ in range(MAX_STEPS):
            if instant > horizon:
                return None
            for index, runner in enumerate(self.runners):
                if known[index] < instant:
                    found = runner.first(instant, horizon)
                    known[index] = _NONE_LEFT if found is None else found
            candidate = min(known)
            if candidate > horizon:
                return None
            if allowed is None:
                return candidate
            opening = allowed.first(candidate, horizon)
            if opening is None:
                return None
            if opening == candidate:
                return candidate
            instant = opening
        return None


def seconds_arg(name: str, value: datetime, *, ceil: bool = False) -> int:
    """An aware datetime argument as whole seconds (TypeError or ValueError naming it)."""
    if not isinstance(value, datetime):
        raise TypeError(f"{name} must be a datetime, not {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime, not naive {value}")
    return ceil_seconds(value) if ceil else floor_seconds(value)


def jittered_search(schedule: Schedule, start: int) -> JitteredSearch | None:
    """The search through a schedule with jitter: its occurrences come from its sources alone,
    and the limits are checked on the moved times (see :mod:`akjob.schedule.jitter`)."""
    jitter = schedule.jitter // SECOND
    plain = compile_schedule(
        replace(schedule, limits=Limits(), jitter=timedelta(0), seed="", remaining=None)
    )
    allowed, possible = compile_limits(schedule.limits)
    if plain is None or not possible:
        return None
    occurrences = Search(plain, max(start - jitter, MIN_INSTANT))
    return JitteredSearch(occurrences.first, allowed, schedule.seed, jitter, start, start + HORIZON)


def make_search(schedule: Schedule, start: int) -> Search | JitteredSearch | None:
    """A search through ``schedule``'s run times from ``start`` on, None when it has none."""
    if schedule.jitter:
        if not schedule.enabled or schedule.remaining == 0:
            return None
        return jittered_search(schedule, start)
    compiled = compile_schedule(schedule)
    return None if compiled is None else Search(compiled, start)


def _iterate(schedule: Schedule, start: int, count: int) -> list[datetime]:
    if schedule.remaining is not None:
        count = min(count, schedule.remaining)
    if count <= 0 or start > MAX_INSTANT:
        return []
    start = max(start, MIN_INSTANT)
    search = make_search(schedule, start)
    if search is None:
        return []
    found: list[datetime] = []
    while len(found) < count:
        run = search.first(start)
        if run is None:
            break
        found.append(to_datetime(run))
        start = run + 1
    return found


def _first(schedule: Schedule, start: int) -> datetime | None:
    """The first run time at or after ``start``: :class:`Search` without its bookkeeping when
    there is one source, the common case."""
    if schedule.jitter:  # the moved times: see :func:`jittered_search`
        runs = _iterate(schedule, start, 1)
        return runs[0] if runs else None
    compiled = compile_schedule(schedule)
    if compiled is None or start > MAX_INSTANT:
        return None
    start = max(start, MIN_INSTANT)
    if len(compiled.runners) > 1:
        run = Search(compiled, start).first(start)
        return None if run is None else to_datetime(run)
    runner, allowed = compiled.runners[0], compiled.allowed
    horizon = min(start + HORIZON, MAX_INSTANT)
    instant = start
    for _ in range(MAX_STEPS):
        candidate = runner.first(instant, horizon)
        if candidate is None or candidate > horizon:
            return None
        if allowed is None:
            return to_datetime(candidate)
        opening = allowed.first(candidate, horizon)
        if opening is None:
            return None
        if opening == candidate:
            return to_datetime(candidate)
        instant = opening
    return None


def next_at_or_after(schedule: Schedule, *, at: datetime) -> datetime | None:
    """The first run time at or after ``at`` (a fraction of a second rounds up), or None."""
    return _first(schedule, seconds_arg("at", at, ceil=True))


def next_after(schedule: Schedule, *, after: datetime) -> datetime | None:
    """The first run time strictly after ``after``, or None."""
    return _first(schedule, seconds_arg("after", after) + 1)


def upcoming(schedule: Schedule, *, after: datetime, count: int = 10) -> list[datetime]:
    """The next ``count`` run times strictly after ``after``, never more than are remaining."""
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise ValueError(f"count must be a whole number >= 0, not {count!r}")
    return _iterate(schedule, seconds_arg("after", after) + 1, count)
