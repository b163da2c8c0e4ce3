"""Each kind of source, compiled: "the first run time at or after this instant" and "how many
run times in this span", by arithmetic.

Instants are integer POSIX seconds (see :mod:`akjob.schedule.zones`). Every ``first`` returns
None when the source has no run time left before ``horizon``; every ``count`` counts the run
times in [begin, end], both included, without listing them.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Collection
from math import gcd
from typing import Protocol

from akjob.schedule.cron import Cron
from akjob.schedule.days import DayFilter, MonthPicks
from akjob.schedule.limits import Allowed
from akjob.schedule.spec import (
    CronSource,
    DatesSource,
    IntervalSource,
    MonthlySource,
    Source,
    WeeklySource,
)
from akjob.schedule.zones import (
    DAY,
    EPOCH_DAY,
    SECOND,
    Zone,
    day_of,
    floor_seconds,
    local_at,
    seconds_of,
)

#: A DST gap longer than this is not expected after a fixed time (tzdata: at most 2 hours today).
LONGEST_GAP = 3 * 3600


class Runner(Protocol):
    def first(self, instant: int, horizon: int) -> int | None: ...

    def count(self, begin: int, end: int) -> int: ...


class Never:
    """A source that cannot pass the limits."""

    def first(self, instant: int, horizon: int) -> int | None:
        return None

    def count(self, begin: int, end: int) -> int:
        return 0


class Dates:
    __slots__ = ("times",)

    def __init__(self, source: DatesSource) -> None:
        self.times = tuple(floor_seconds(t) for t in source.times)

    def first(self, instant: int, horizon: int) -> int | None:
        index = bisect_left(self.times, instant)
        return self.times[index] if index < len(self.times) else None

    def count(self, begin: int, end: int) -> int:
        return max(0, bisect_right(self.times, end) - bisect_left(self.times, begin))


class Interval:
    __slots__ = ("anchor", "every")

    def __init__(self, source: IntervalSource) -> None:
        self.anchor = floor_seconds(source.anchor)
        self.every = source.every // SECOND

    def first(self, instant: int, horizon: int) -> int | None:
        steps = max(1, -((self.anchor - instant) // self.every))
        return self.anchor + steps * self.every

    def count(self, begin: int, end: int) -> int:
        first = max(1, -((self.anchor - begin) // self.every))
        last = (end - self.anchor) // self.every
        return max(0, last - first + 1)

    def within(self, allowed: Allowed) -> Runner:
        """Never, when a window in a fixed offset misses every time of day the grid can take.

        Those times of day are the anchor's plus multiples of gcd(every, one day).
        """
        window, offset = allowed.window, allowed.zone.fixed
        if window is None or offset is None:
            return self
        step = gcd(self.every, DAY)
        start = (self.anchor + offset) % step
        spans = (
            ((0, window.end), (window.begin, DAY - 1))
            if window.wraps
            else ((window.begin, window.end),)
        )
        for begin, end in spans:
            if begin + (start - begin) % step <= end:
                return self
        return Never()


class FixedTime:
    """Monthly and weekly sources: a wall-clock time on the days a :class:`DayFilter` allows."""

    __slots__ = ("zone", "at", "days")

    def __init__(self, zone: Zone, at: int, days: DayFilter) -> None:
        self.zone, self.at, self.days = zone, at, days

    @classmethod
    def of(cls, source: MonthlySource | WeeklySource) -> FixedTime:
        if isinstance(source, MonthlySource) and source.positions:
            picks = MonthPicks(source.days, source.from_last, source.nth)
            days = DayFilter.of(picks=(picks,))
        elif isinstance(source, MonthlySource):
            days = DayFilter.of(monthdays=source.days)
        else:
            days = DayFilter.of(weekdays=source.days)
        return cls(Zone(source.tz), seconds_of(source.at), days)

    def first(self, instant: int, horizon: int) -> int | None:
        found = self.first_day(instant, horizon)
        return None if found is None else found[1]

    def first_day(self, instant: int, horizon: int) -> tuple[int, int] | None:
        """(day, run time) of the first run time at or after ``instant``."""
        zone = self.zone
        local = zone.local(instant)
        day, seconds = divmod(local, DAY)
        day += EPOCH_DAY
        if zone.fixed is not None:
            day += seconds > self.at
        elif seconds < LONGEST_GAP:
            day -= 1  # a gap across midnight can move yesterday's time into today
        last_day = day_of(horizon) + 2
        while True:
            found = self.days.next(day, last_day)
            if found is None:
                return None
            run = zone.instant(local_at(found, self.at))
            if run >= instant:
                return found, run
            day = found + 1

    def count(self, begin: int, end: int) -> int:
        """The allowed days from the first run's to the day before the first run after ``end``
        (runs follow their days' order)."""
        start = self.first_day(begin, end)
        if start is None or start[1] > end:
            return 0
        after = self.first_day(end + 1, end + 4 * DAY)
        # None: no run in the next days, so every allowed day up to end's (and the next, which
        # a gap may push back) has its run by ``end``.
        stop = day_of(self.zone.local(end)) + 2 if after is None else after[0]
        return self.days.count(start[0], stop - 1)

    def within(self, allowed: Allowed) -> Runner:
        """This source's runs that can pass ``allowed``'s day limits and window, found faster.

        Works when the two zones are the same or both fixed offsets: the run's day and time in
        the limits' zone are then the source's own, shifted by a constant. Any other runs go
        through unfiltered and the calculator checks them.
        """
        mine, theirs = self.zone, allowed.zone
        if misses_window(mine, (self.at,), allowed):
            return Never()
        if mine == theirs:
            # The run's local day is its own day, unless a DST gap straddling midnight pushed it
            # into the next one; no zone has such a gap today.
            days = self.days.meet(allowed.days)
            return FixedTime(mine, self.at, days) if days.possible() else Never()
        if mine.fixed is None or theirs.fixed is None:
            return self
        shift = (self.at + theirs.fixed - mine.fixed) // DAY
        days = allowed.days if shift == 0 else allowed.days.shifted(shift)
        return FixedTime(mine, self.at, self.days.meet(days))


def misses_window(mine: Zone, times: Collection[int], allowed: Allowed) -> bool:
    """True when no run at these times of day (in zone ``mine``) can fall in the window.

    Decided only where it can be: same zone, or two fixed offsets. In a zone with DST a time
    skipped by a gap runs at the gap's end, a little later, so a window opening up to
    LONGEST_GAP after such a time is not ruled out.
    """
    window, theirs = allowed.window, allowed.zone
    if window is None:
        return False
    if mine == theirs:
        if any(window.allows(t) for t in times):
            return False
        if mine.fixed is not None:
            return True
        entries = window.entries()
        return not any(0 < (e - t) % DAY <= LONGEST_GAP for e in entries for t in times)
    if mine.fixed is None or theirs.fixed is None:
        return False
    shift = theirs.fixed - mine.fixed
    return not any(window.allows((t + shift) % DAY) for t in times)


def compile_source(source: Source, allowed: Allowed | None) -> Runner:
    """The runner of ``source``; with ``allowed``, pre-filtered by the limits where it can be."""
    if isinstance(source, DatesSource):
        return Dates(source)
    if isinstance(source, IntervalSource):
        interval = Interval(source)
        return interval if allowed is None else interval.within(allowed)
    if isinstance(source, CronSource):
        cron = Cron(source)
        if not cron.possible:  # no day ever matches ("0 0 */30 2 1#5": 1st or 31st February)
            return Never()
        if allowed is not None and misses_window(cron.zone, cron.times, allowed):
            return Never()
        return cron
    runner = FixedTime.of(source)
    if allowed is None or allowed.is_open:
        return runner
    return runner.within(allowed)
