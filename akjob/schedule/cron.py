"""A cron expression, compiled: its times of day and its days, searched by arithmetic.

The expression is read once (:mod:`akjob.schedule.cronparse`) into a sorted tuple of times of day
and a :class:`~akjob.schedule.months.MonthTable` of days (months, day of month, day of week, with
``L``, ``LW``, ``#`` and Vixie cron's either-day rule). The first matching wall-clock reading at
or after a reading is then one ``bisect`` in today's times, or the first time of the next day the
table picks.

Daylight saving time (docs/schedule.md, rules 1, 2 and 4), on the zone's wall clock:

* **real clock** (the minute or the hour field starts with ``*``): an instant is a run time when
  its own reading matches. A repeated reading matches in both passes; a reading that does not
  exist never matches. Between two offset changes the reading is the instant plus a constant, so
  the search goes piece by piece.
* **fixed times** (any other expression): each matching reading runs once, at the instant
  :meth:`Zone.instant` gives it: a reading in a gap at the first instant after the gap (several
  such readings run together, once), a repeated reading at its first pass. That mapping never
  goes backwards, so the runs at or after an instant are the matching readings from the first
  reading that maps there (:meth:`Cron.wall_floor`).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable
from functools import lru_cache

from akjob.schedule.cronparse import CronSpec, parse_cron
from akjob.schedule.months import MonthTable, weekday_bits
from akjob.schedule.spec import CronSource
from akjob.schedule.zones import DAY, EPOCH_DAY, Zone, day_of

__all__ = ["Cron", "cron_days"]

#: Offset changes crossed in one search before giving up (two a year for 400 years, and then some).
MAX_PIECES = 2000


def _month_rule(spec: CronSpec) -> Callable[[int, int, int], int]:
    numbered = sum(1 << day for day in spec.days)

    def rule(month: int, length: int, first: int) -> int:
        by_date = numbered
        if spec.last_day:
            by_date |= 1 << length
        for back in spec.before_last:
            if back < length:
                by_date |= 1 << (length - back)
        if spec.last_weekday:
            last = (first + length - 1) % 7  # weekday of the last day
            by_date |= 1 << (length - (1 if last == 6 else 2 if last == 0 else 0))
        by_weekday = weekday_bits(spec.weekdays, length, first)
        for weekday in spec.last_weekdays:
            day = (weekday - first) % 7 + 1
            by_weekday |= 1 << (day + (length - day) // 7 * 7)
        for weekday, nth in spec.nth_weekdays:
            day = (weekday - first) % 7 + 1 + 7 * (nth - 1)
            if day <= length:
                by_weekday |= 1 << day
        return by_date & by_weekday if spec.days_and else by_date | by_weekday

    return rule


def cron_days(spec: CronSpec) -> MonthTable:
    """The days ``spec`` runs on."""
    return MonthTable(_month_rule(spec), None if len(spec.months) == 12 else spec.months)


@lru_cache(maxsize=256)
def _compiled(expr: str) -> tuple[CronSpec, tuple[int, ...], MonthTable, bool]:
    spec = parse_cron(expr)
    days = cron_days(spec)
    return spec, spec.times, days, days.possible()


class Cron:
    """A :class:`~akjob.schedule.spec.CronSource`, ready to search and count. ``possible`` is
    False when no day ever matches (the calendar repeats every 400 years)."""

    __slots__ = ("zone", "spec", "times", "days", "possible")

    def __init__(self, source: CronSource) -> None:
        self.zone = Zone(source.tz)
        self.spec, self.times, self.days, self.possible = _compiled(source.expr)

    # -- wall-clock readings (local seconds) ---------------------------------------------------

    def reading(self, local: int, last_day: int) -> int | None:
        """The first matching reading at or after ``local``, on a day up to ``last_day``."""
        day, seconds = divmod(local, DAY)
        times = self.times
        if seconds <= times[-1] and self.days.allows(day + EPOCH_DAY):
            return local - seconds + times[bisect_left(times, seconds)]
        found = self.days.next(day + EPOCH_DAY + 1, last_day)
        return None if found is None else (found - EPOCH_DAY) * DAY + times[0]

    def readings(self, low: int, high: int) -> int:
        """How many matching readings lie in [low, high]."""
        if high < low:
            return 0
        times, days = self.times, self.days
        first, start = divmod(low, DAY)
        last, end = divmod(high, DAY)
        first += EPOCH_DAY
        last += EPOCH_DAY
        if first == last:
            if not days.allows(first):
                return 0
            return bisect_right(times, end) - bisect_left(times, start)
        found = days.count(first + 1, last - 1) * len(times)
        if days.allows(first):
            found += len(times) - bisect_left(times, start)
        if days.allows(last):
            found += bisect_right(times, end)
        return found

    # -- the runner --------------------------------------------------------------------------------

    def first(self, instant: int, horizon: int) -> int | None:
        """The first run time at or after ``instant`` (None: none on a day up to the horizon's)."""
        zone, last_day = self.zone, day_of(horizon) + 2
        if zone.fixed is not None:
            found = self.reading(instant + zone.fixed, last_day)
            return None if found is None else found - zone.fixed
        if self.spec.wall_clock:
            return self._first_fixed(instant, last_day)
        for _ in range(MAX_PIECES):
            offset = zone.offset(instant)
            found = self.reading(instant + offset, last_day)
            if found is None:
                return None
            change = zone.next_change(instant, found - offset)
            if change is None:
                return found - offset
            instant = change  # the reading jumps here: search again on the new offset
        return None

    def _first_fixed(self, instant: int, last_day: int) -> int | None:
        zone = self.zone
        offset = zone.offset(instant)
        local = instant + offset
        found = self.reading(local, last_day)
        if found is None:
            return None
        run = zone.instant(found)
        if run > instant:
            before = zone.offset(instant - 1)
            if before < offset:  # ``instant`` ends a gap: its matching readings run now
                skipped = self.reading(instant + before, last_day)
                if skipped is not None and skipped < local:
                    return instant
        elif run < instant:  # the second pass of a repeated hour: its readings ran in the first
            found = self.reading(self.wall_floor(instant), last_day)
            return None if found is None else zone.instant(found)
        return run

    def wall_floor(self, instant: int) -> int:
        """The earliest reading whose fixed-time run (:meth:`Zone.instant`) is not before
        ``instant``."""
        zone = self.zone
        offset = zone.offset(instant)
        local = instant + offset
        before = zone.offset(instant - 1)
        if before < offset:  # a gap ends at ``instant``: its readings run at ``instant``
            return instant + before
        first = zone.instant(local)
        if first < instant:  # second pass: the repeated readings belong to the first
            change = zone.next_change(first, instant)
            return (instant if change is None else change) + local - first
        return local

    def count(self, begin: int, end: int) -> int:
        """How many run times lie in [begin, end]."""
        zone = self.zone
        if end < begin:
            return 0
        if zone.fixed is not None:
            return self.readings(begin + zone.fixed, end + zone.fixed)
        if self.spec.wall_clock:
            return self._count_fixed(begin, end)
        found, instant = 0, begin
        while True:
            offset = zone.offset(instant)
            change = zone.next_change(instant, end)
            found += self.readings(
                instant + offset, (end if change is None else change - 1) + offset
            )
            if change is None:
                return found
            instant = change

    def _count_fixed(self, begin: int, end: int) -> int:
        zone = self.zone
        found = self.readings(self.wall_floor(begin), self.wall_floor(end + 1) - 1)
        # The matching readings of a gap, and the one at its end, are a single run.
        instant = begin - 1
        while (change := zone.next_change(instant, end)) is not None:
            before, after = zone.offset(change - 1), zone.offset(change)
            if after > before:
                together = self.readings(change + before, change + after)
                found -= max(together - 1, 0)
            instant = change
        return found
