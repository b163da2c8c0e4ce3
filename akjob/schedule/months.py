"""Days chosen month by month: searched and counted a month at a time, never a day at a time.

A :class:`MonthTable` holds a rule that picks days of a month from three facts alone: the month
(1–12), its length and the weekday of its 1st. Every day rule of the engine has that shape: day
limits, monthly and weekly days, and cron's day of month and day of week with ``L``, ``LW``, ``#``.
The rule's answer is a bit mask (bit d set: day d is picked), worked out once per distinct
(month, length, weekday) and kept: at most 12 × 7 + 7 of them. Finding the next picked day then
takes one shift per month, and counting the picked days of a month one ``bit_count``.

Days are proleptic Gregorian ordinals (``date.toordinal()``); weekdays here are numbered as cron
numbers them, ``ordinal % 7``: 0 = Sunday … 6 = Saturday.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

__all__ = ["CYCLE", "LAST_DAY", "LONGEST", "MonthTable", "month_length", "weekday_bits"]

#: Days in 400 Gregorian years.
CYCLE = 146097
LAST_DAY = date.max.toordinal()
MONTH_LENGTH = (0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
LONGEST = (0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)

#: Every day of a month of ``length`` days: bits 1 … length.
FULL = tuple((1 << (length + 1)) - 2 for length in range(32))


def month_length(year: int, month: int) -> int:
    if month == 2 and year % 4 == 0 and (year % 100 != 0 or year % 400 == 0):
        return 29
    return MONTH_LENGTH[month]


def weekday_bits(weekdays: frozenset[int], length: int, first: int) -> int:
    """The days of a month whose weekday (0 = Sunday) is in ``weekdays``; ``first`` is the
    weekday of its 1st."""
    bits = 0
    for wanted in weekdays:
        day = (wanted - first) % 7 + 1
        while day <= length:
            bits |= 1 << day
            day += 7
    return bits


class MonthTable:
    """The days that ``rule(month, length, first_weekday)`` picks, in the ``months`` allowed
    (None: all twelve)."""

    __slots__ = ("rule", "months", "_masks", "_per_cycle")

    def __init__(
        self, rule: Callable[[int, int, int], int], months: frozenset[int] | None = None
    ) -> None:
        self.rule = rule
        self.months = months
        self._masks: dict[tuple[int, int, int], int] = {}
        self._per_cycle: int | None = None

    def mask(self, month: int, length: int, first: int) -> int:
        key = (month, length, first)
        bits = self._masks.get(key)
        if bits is None:
            bits = self._masks[key] = self.rule(month, length, first) & FULL[length]
        return bits

    def possible(self) -> bool:
        """Whether any day is ever picked: every (month, length, weekday of the 1st) occurs in
        each 400-year cycle, so trying them all answers for every year."""
        months = range(1, 13) if self.months is None else self.months
        for month in months:
            lengths = (28, 29) if month == 2 else (month_length(2001, month),)
            for length in lengths:
                if any(self.mask(month, length, first) for first in range(7)):
                    return True
        return False

    def allows(self, day: int) -> bool:
        value = date.fromordinal(day)
        if self.months is not None and value.month not in self.months:
            return False
        length = month_length(value.year, value.month)
        return bool(self.mask(value.month, length, (day - value.day + 1) % 7) >> value.day & 1)

    def next(self, day: int, last: int) -> int | None:
        """The first picked day in [day, last], or None."""
        last = min(last, LAST_DAY)
        if day > last:
            return None
        value = date.fromordinal(day)
        year, month, start = value.year, value.month, value.day
        first = day - start + 1
        months = self.months
        while first <= last:
            length = month_length(year, month)
            if months is None or month in months:
                bits = self.mask(month, length, first % 7) >> start
                if bits:
                    found = first + start - 1 + (bits & -bits).bit_length() - 1
                    return found if found <= last else None
            first, start = first + length, 1
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return None

    def count(self, begin: int, end: int) -> int:
        """How many days in [begin, end] are picked: month by month, whole 400-year cycles at
        once (the calendar repeats every cycle)."""
        end = min(end, LAST_DAY)
        if end < begin:
            return 0
        total = 0
        cycles = (end - begin + 1) // CYCLE
        if cycles:
            total += cycles * self.per_cycle()
            begin += cycles * CYCLE
        return total + self._months(begin, end)

    def _months(self, begin: int, end: int) -> int:
        total = 0
        value = date.fromordinal(begin)
        year, month, start = value.year, value.month, value.day
        first = begin - start + 1
        months = self.months
        while first <= end:
            length = month_length(year, month)
            if months is None or month in months:
                stop = min(length, end - first + 1)
                bits = self.mask(month, length, first % 7) & FULL[stop]
                total += (bits >> start).bit_count()
            first, start = first + length, 1
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return total

    def per_cycle(self) -> int:
        """Picked days in one 400-year cycle (worked out once)."""
        if self._per_cycle is None:
            begin = date(2001, 1, 1).toordinal()
            self._per_cycle = self._months(begin, begin + CYCLE - 1)
        return self._per_cycle
