"""Which calendar days pass a set of day limits, found by arithmetic.

A :class:`DayFilter` answers "the first allowed day at or after this one" by jumping month to
month, never day by day through a year. Days are proleptic Gregorian ordinals
(``date.toordinal()``). The Gregorian calendar, weekdays included, repeats every 400 years
(146 097 days, a whole number of weeks), so a filter that allows no day in one cycle allows none
ever; :meth:`DayFilter.possible` says so without searching.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from datetime import date

from akjob.schedule.months import (
    CYCLE,
    FULL,
    LAST_DAY,
    LONGEST,
    MonthTable,
    month_length,
    weekday_bits,
)

__all__ = ["CYCLE", "LAST_DAY", "LONGEST", "DayFilter", "MonthPicks", "month_length", "weekday"]


def weekday(day: int) -> int:
    """akjob's weekday of an ordinal: 1 = Sunday … 7 = Saturday (ordinal 1 is a Monday)."""
    return day % 7 + 1


def _meet(a: frozenset[int] | None, b: frozenset[int] | None) -> frozenset[int] | None:
    if a is None:
        return b
    if b is None:
        return a
    return a & b


@dataclass(frozen=True, slots=True)
class MonthPicks:
    """Days picked by their place in the month: numbered ``days`` (1–31), days ``from_last``
    days before the month's last (0 is the last day itself), and ``nth`` weekdays as
    (weekday 1 = Sunday … 7 = Saturday, k) for the k-th (1–5) or, with k = -1, the last one.
    A day picked by any of the three is picked."""

    days: frozenset[int] = frozenset()
    from_last: frozenset[int] = frozenset()
    nth: frozenset[tuple[int, int]] = frozenset()

    def mask(self, length: int, first: int) -> int:
        """The picked days of a month of ``length`` days whose 1st has weekday ``first``
        (0 = Sunday), as bits."""
        bits = sum(1 << day for day in self.days)
        for back in self.from_last:
            if back < length:
                bits |= 1 << (length - back)
        for wanted, k in self.nth:
            day = (wanted - 1 - first) % 7 + 1
            day = day + (length - day) // 7 * 7 if k == -1 else day + 7 * (k - 1)
            if day <= length:
                bits |= 1 << day
        return bits


@dataclass(frozen=True, slots=True)
class DayFilter:
    """Days whose weekday, day of month and month are in the sets (None = any), that every one
    of ``picks`` picks, whose ordinal is within [first, last] (None = unbounded) and is not
    one of ``excluded`` (sorted ordinals)."""

    weekdays: frozenset[int] | None = None
    monthdays: tuple[int, ...] | None = None  # sorted
    months: frozenset[int] | None = None
    first: int | None = None
    last: int | None = None
    picks: tuple[MonthPicks, ...] = ()
    excluded: tuple[int, ...] = ()  # sorted ordinals
    # _ahead[w]: days from a day of weekday w to the nearest allowed weekday (derived).
    _ahead: tuple[int, ...] = field(default=(), init=False, repr=False, compare=False)
    # The same days as a MonthTable, for counting (made when first needed).
    _table: list[MonthTable] = field(default_factory=list, init=False, repr=False, compare=False)
    # possible(), worked out once: next() asks it every time.
    _possible: bool = field(default=True, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.weekdays:
            ahead = tuple(min((w - day) % 7 for w in self.weekdays) for day in range(8))
            object.__setattr__(self, "_ahead", ahead)
        object.__setattr__(self, "_possible", self._can_match())

    @classmethod
    def of(
        cls,
        weekdays: frozenset[int] | None = None,
        monthdays: frozenset[int] | None = None,
        months: frozenset[int] | None = None,
        first: int | None = None,
        last: int | None = None,
        picks: tuple[MonthPicks, ...] = (),
        excluded: frozenset[int] = frozenset(),
    ) -> DayFilter:
        return cls(
            weekdays,
            None if monthdays is None else tuple(sorted(monthdays)),
            months,
            first,
            last,
            picks,
            tuple(sorted(excluded)),
        )

    @property
    def is_open(self) -> bool:
        """True when every day passes."""
        return (
            self.weekdays is None
            and self.monthdays is None
            and self.months is None
            and self.first is None
            and self.last is None
            and not self.picks
            and not self.excluded
        )

    def meet(self, other: DayFilter) -> DayFilter:
        """The days that pass both filters."""
        firsts = [d for d in (self.first, other.first) if d is not None]
        lasts = [d for d in (self.last, other.last) if d is not None]
        mine = None if self.monthdays is None else frozenset(self.monthdays)
        theirs = None if other.monthdays is None else frozenset(other.monthdays)
        return DayFilter.of(
            _meet(self.weekdays, other.weekdays),
            _meet(mine, theirs),
            _meet(self.months, other.months),
            max(firsts) if firsts else None,
            min(lasts) if lasts else None,
            self.picks + other.picks,
            frozenset(self.excluded) | frozenset(other.excluded),
        )

    def shifted(self, days: int) -> DayFilter:
        """A filter that lets through every day d for which this filter allows d + ``days``.

        Only weekdays and the date range move exactly; days of the month, months, places in the
        month and excluded days are dropped, so the result may let through more days, which is
        what a pre-filter may do.
        """
        weekdays = None
        if self.weekdays is not None:
            weekdays = frozenset((w - 1 - days) % 7 + 1 for w in self.weekdays)
        return DayFilter(
            weekdays,
            None,
            None,
            None if self.first is None else self.first - days,
            None if self.last is None else self.last - days,
        )

    def possible(self) -> bool:
        """Whether any day passes, ignoring the date range and the excluded days (finitely
        many), see the module docstring."""
        return self._possible

    def _can_match(self) -> bool:
        if self.weekdays is not None and not self.weekdays:
            return False
        if self.months is not None and not self.months:
            return False
        if self.picks:
            return self.table().possible()
        if self.monthdays is None:
            return True
        months = range(1, 13) if self.months is None else self.months
        return any(day <= LONGEST[month] for month in months for day in self.monthdays)

    def _excluded(self, day: int) -> bool:
        excluded = self.excluded
        if not excluded:
            return False
        index = bisect_left(excluded, day)
        return index < len(excluded) and excluded[index] == day

    def allows(self, day: int) -> bool:
        if (self.first is not None and day < self.first) or (
            self.last is not None and day > self.last
        ):
            return False
        if self._excluded(day):
            return False
        if self.picks:
            return self.table().allows(day)
        if self.weekdays is not None and weekday(day) not in self.weekdays:
            return False
        if self.monthdays is None and self.months is None:
            return True
        value = date.fromordinal(day)
        if self.months is not None and value.month not in self.months:
            return False
        return self.monthdays is None or value.day in self.monthdays

    def next(self, day: int, last: int) -> int | None:
        """The first allowed day in [day, last], or None. Each excluded day costs at most one
        more step."""
        found = self._next(day, last)
        while found is not None and self._excluded(found):
            found = self._next(found + 1, last)
        return found

    def _next(self, day: int, last: int) -> int | None:
        """:meth:`next`, blind to the excluded days."""
        if self.first is not None and day < self.first:
            day = self.first
        if self.last is not None and self.last < last:
            last = self.last
        last = min(last, LAST_DAY)
        if day > last:
            return None
        if self.picks:
            return self.table().next(day, last)
        if self.weekdays is None and self.monthdays is None and self.months is None:
            return day
        if not self._possible:
            return None
        value = date.fromordinal(day)
        year, month, start = value.year, value.month, value.day
        month_first = day - start + 1
        months = self.months
        while True:
            if months is not None and month not in months:
                later = [m for m in months if m > month]
                month = min(later) if later else min(months)
                year += 0 if later else 1
                if year > 9999:
                    return None
                month_first, start = date(year, month, 1).toordinal(), 1
            elif (found := self._in_month(year, month, start, month_first)) is not None:
                return found if found <= last else None
            else:
                month_first += month_length(year, month)
                start = 1
                if month == 12:
                    year, month = year + 1, 1
                else:
                    month += 1
            if month_first > last:
                return None

    def _in_month(self, year: int, month: int, start: int, month_first: int) -> int | None:
        """The first allowed day from day-of-month ``start`` to the month's end, or None."""
        length = month_length(year, month)
        weekdays = self.weekdays
        if self.monthdays is not None:
            for mday in self.monthdays:
                if mday > length:
                    return None
                if mday >= start:
                    day = month_first + mday - 1
                    if weekdays is None or weekday(day) in weekdays:
                        return day
            return None
        if start > length:
            return None
        day = month_first + start - 1
        if weekdays is None:
            return day
        shift = self._ahead[weekday(day)]
        return day + shift if start + shift <= length else None

    def count(self, begin: int, end: int) -> int:
        """How many days in [begin, end] pass."""
        if self.first is not None:
            begin = max(begin, self.first)
        if self.last is not None:
            end = min(end, self.last)
        end = min(end, LAST_DAY)
        if end < begin:
            return 0
        found = self._count(begin, end)
        if self.excluded:
            low = bisect_left(self.excluded, begin)
            high = bisect_right(self.excluded, end)
            found -= sum(1 for day in self.excluded[low:high] if self._allowed_by_rule(day))
        return found

    def _allowed_by_rule(self, day: int) -> bool:
        """Whether ``day`` passes the month rule (the date range and exclusions apart)."""
        if self.weekdays is None and self.monthdays is None and self.months is None:
            if not self.picks:
                return True
        return self.table().allows(day)

    def _count(self, begin: int, end: int) -> int:
        if (
            self.weekdays is None
            and self.monthdays is None
            and self.months is None
            and not self.picks
        ):
            return end - begin + 1
        return self.table().count(begin, end)

    def table(self) -> MonthTable:
        """The days this filter's month rule picks, as a :class:`MonthTable` (made once)."""
        if not self._table:
            self._table.append(MonthTable(self._month_rule, self.months))
        return self._table[0]

    def _month_rule(self, month: int, length: int, first: int) -> int:
        bits = FULL[length]
        if self.monthdays is not None:
            bits &= sum(1 << day for day in self.monthdays)
        if self.weekdays is not None:
            bits &= weekday_bits(frozenset(w - 1 for w in self.weekdays), length, first)
        for picks in self.picks:
            bits &= picks.mask(length, first)
        return bits
