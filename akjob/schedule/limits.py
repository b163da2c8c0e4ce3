"""The limits of a schedule as a set of allowed instants, searched by jumping window to window.

An instant is allowed when its wall-clock reading in the limits' zone falls on an allowed day
(:class:`~akjob.schedule.days.DayFilter`) and, if a window is set, inside the window. The rule is
read on the wall clock only, so daylight saving time needs no special case here:

* in a spring-forward gap no reading exists, so a window opening inside the gap opens at the
  first instant after it (the transition);
* in a fall-back hour the readings repeat, so the instants of the second pass whose reading is in
  the window are allowed too.

:meth:`Allowed.first` finds the first allowed instant piecewise: between two offset changes the
reading is the instant plus a constant, so the first allowed reading is found by calendar
arithmetic and shifted back; if an offset change comes first, the search resumes there.
"""

from __future__ import annotations

from datetime import date, time

from akjob.schedule.days import DayFilter
from akjob.schedule.spec import Limits
from akjob.schedule.zones import DAY, EPOCH_DAY, Zone, day_of, local_at, seconds_of

#: Monday to Friday (1 = Sunday).
BUSINESS_DAYS = frozenset(range(2, 7))
#: Offset changes crossed in one search before giving up (two a year for 400 years, and then some).
MAX_PIECES = 2000


def _ordinal(value: date | None) -> int | None:
    return None if value is None else value.toordinal()


class Window:
    """Seconds of the day allowed by ``[begin, end]`` (both inclusive; begin > end wraps)."""

    __slots__ = ("begin", "end", "wraps")

    def __init__(self, begin: time, end: time) -> None:
        self.begin = seconds_of(begin)
        self.end = seconds_of(end)
        self.wraps = self.begin > self.end

    def allows(self, seconds: int) -> bool:
        if self.wraps:
            return seconds <= self.end or seconds >= self.begin
        return self.begin <= seconds <= self.end

    def next_open(self, seconds: int) -> int | None:
        """The first allowed second of the day at or after ``seconds``, or None."""
        if self.allows(seconds):
            return seconds
        if seconds < self.begin:
            return self.begin
        return None

    @property
    def day_start(self) -> int:
        """The first allowed second of a day."""
        return 0 if self.wraps else self.begin

    def entries(self) -> tuple[int, ...]:
        """The seconds of the day at which the allowed time starts."""
        return (0, self.begin) if self.wraps else (self.begin,)


class Allowed:
    """Compiled :class:`~akjob.schedule.spec.Limits`."""

    __slots__ = ("zone", "days", "window", "is_open")

    def __init__(self, limits: Limits) -> None:
        self.zone = Zone(limits.tz)
        weekdays = limits.weekdays
        if limits.business_days:
            weekdays = BUSINESS_DAYS if weekdays is None else weekdays & BUSINESS_DAYS
        self.days = DayFilter.of(
            weekdays,
            limits.monthdays,
            limits.months,
            _ordinal(limits.date_begin),
            _ordinal(limits.date_end),
            excluded=frozenset(day.toordinal() for day in limits.excluded),
        )
        self.window = None if limits.window is None else Window(*limits.window)
        self.is_open = self.window is None and self.days.is_open

    def allows(self, instant: int) -> bool:
        local = self.zone.local(instant)
        if not self.days.allows(day_of(local)):
            return False
        return self.window is None or self.window.allows(local % DAY)

    def first_local(self, local: int, last_day: int) -> int | None:
        """The first allowed wall-clock reading at or after ``local``, by the calendar alone."""
        days, seconds = divmod(local, DAY)
        day = days + EPOCH_DAY
        window = self.window
        if self.days.allows(day):
            if window is None:
                return local
            if window.wraps:  # closed only between its end and its begin
                return (
                    local if seconds <= window.end else local - seconds + max(seconds, window.begin)
                )
            if seconds <= window.end:
                return local if seconds >= window.begin else local - seconds + window.begin
        day = self.days.next(day + 1, last_day)
        if day is None:
            return None
        return local_at(day, 0 if window is None else window.day_start)

    def first(self, instant: int, horizon: int) -> int | None:
        """The first allowed instant in [instant, horizon], or None."""
        if self.is_open:
            return instant
        zone = self.zone
        last_day = day_of(horizon) + 2
        if zone.fixed is not None:  # one offset: no piece to cross
            local = self.first_local(instant + zone.fixed, last_day)
            if local is None or local - zone.fixed > horizon:
                return None
            return local - zone.fixed
        for _ in range(MAX_PIECES):
            offset = zone.offset(instant)
            local = self.first_local(instant + offset, last_day)
            if local is None:
                return None
            found = local - offset
            if found > horizon:
                return None
            change = zone.next_change(instant, found)
            if change is None:
                return found
            instant = change
        return None

    def last_of_stretch(self, instant: int, horizon: int) -> int:
        """For an allowed ``instant``: the last instant, up to ``horizon``, such that every
        instant from ``instant`` to it is allowed. It may stop short of the stretch's true end
        (at an offset change, at the end of a day with a window, after a month without one): the
        next stretch then starts right after it.
        """
        zone = self.zone
        offset = zone.offset(instant)
        local = instant + offset
        day, seconds = divmod(local, DAY)
        window = self.window
        if window is None or (window.begin == 0 and window.end == DAY - 1):
            ordinal = day_of(local)
            last = ordinal
            while last - ordinal < 31 and self.days.allows(last + 1):
                last += 1
            close = (last - ordinal + day + 1) * DAY - 1
        elif seconds <= window.end:
            close = day * DAY + window.end
        else:  # the part of a wrapping window that runs to midnight
            close = day * DAY + DAY - 1
        found = min(close - offset, horizon)
        change = zone.next_change(instant, found)
        return found if change is None else change - 1
