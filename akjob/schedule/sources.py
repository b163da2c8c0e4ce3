"""Each kind of source, compiled: "the first run time at or after this instant", by arithmetic.

Instants are integer POSIX seconds (see :mod:`akjob.schedule.zones`). Every ``first`` returns
None when the source has no run time left before ``horizon``.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Collection, Iterator
from datetime import datetime
from math import gcd
from typing import Protocol

from akjob.schedule.days import DayFilter
from akjob.schedule.limits import Allowed
from akjob.schedule.spec import (
    CronSource,
    DatesSource,
    IntervalSource,
    MonthlySource,
    Source,
    WeeklySource,
    import_cronsim,
)
from akjob.schedule.zones import (
    DAY,
    EPOCH,
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


class Never:
    """A source that cannot pass the limits."""

    def first(self, instant: int, horizon: int) -> int | None:
        return None


class Dates:
    __slots__ = ("times",)

    def __init__(self, source: DatesSource) -> None:
        self.times = tuple(floor_seconds(t) for t in source.times)

    def first(self, instant: int, horizon: int) -> int | None:
        index = bisect_left(self.times, instant)
        return self.times[index] if index < len(self.times) else None


class Interval:
    __slots__ = ("anchor", "every")

    def __init__(self, source: IntervalSource) -> None:
        self.anchor = floor_seconds(source.anchor)
        self.every = source.every // SECOND

    def first(self, instant: int, horizon: int) -> int | None:
        steps = max(1, -((self.anchor - instant) // self.every))
        return self.anchor + steps * self.every

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
        if isinstance(source, MonthlySource):
            days = DayFilter.of(monthdays=source.days)
        else:
            days = DayFilter.of(weekdays=source.days)
        return cls(Zone(source.tz), seconds_of(source.at), days)

    def first(self, instant: int, horizon: int) -> int | None:
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
                return run
            day = found + 1

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
            return FixedTime(mine, self.at, self.days.meet(allowed.days))
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


class Cron:
    """A cron expression, matched by cronsim (which implements SPEC S3's DST rule for cron)."""

    __slots__ = ("expr", "tz", "cronsim")

    def __init__(self, source: CronSource) -> None:
        self.expr, self.tz = source.expr, source.tz
        self.cronsim = import_cronsim()

    def within(self, allowed: Allowed) -> Runner:
        """Never, when none of the expression's times of day can fall in the window."""
        fields = self.cronsim.CronSim(self.expr, EPOCH)
        times = [h * 3600 + m * 60 for h in fields.hours for m in fields.minutes]
        return Never() if misses_window(Zone(self.tz), times, allowed) else self

    def first(self, instant: int, horizon: int) -> int | None:
        return CronCursor(self).first(instant, horizon)

    def cursor(self) -> CronCursor:
        return CronCursor(self)


class CronCursor:
    """One search's walk through a cron schedule: asked for the run right after the last one
    (as when listing upcoming runs), it steps its iterator instead of starting a new one."""

    __slots__ = ("cron", "iterator", "last")

    def __init__(self, cron: Cron) -> None:
        self.cron = cron
        self.iterator: Iterator[datetime] | None = None
        self.last = 0

    def first(self, instant: int, horizon: int) -> int | None:
        if self.iterator is None or instant != self.last + 1:
            start = datetime.fromtimestamp(instant - 1, self.cron.tz)
            self.iterator = self.cron.cronsim.CronSim(self.cron.expr, start)
        try:
            self.last = floor_seconds(next(self.iterator))
            # Started inside a repeated hour, cronsim can answer a fixed time's first pass,
            # which is before the start.
            while self.last < instant:
                self.last = floor_seconds(next(self.iterator))
        except (StopIteration, OverflowError):  # cronsim gives up after 50 years; year 9999
            self.iterator = None
            return None
        return self.last


def compile_source(source: Source, allowed: Allowed | None) -> Runner:
    """The runner of ``source``; with ``allowed``, pre-filtered by the limits where it can be."""
    if isinstance(source, DatesSource):
        return Dates(source)
    if isinstance(source, IntervalSource):
        interval = Interval(source)
        return interval if allowed is None else interval.within(allowed)
    if isinstance(source, CronSource):
        cron = Cron(source)
        return cron if allowed is None else cron.within(allowed)
    runner = FixedTime.of(source)
    if allowed is None or allowed.is_open:
        return runner
    return runner.within(allowed)
