"""akjob's cron dialect: five fields read into sets of numbers, once, with a clear refusal.

The dialect (docs/schedule.md, "Cron"): minute (0–59), hour (0–23), day of month (1–31), month
(1–12 or JAN–DEC), day of week (0–7 or SUN–SAT; 0 and 7 are Sunday). Each field is a
comma-separated list of terms; a term is ``*``, a number, a range ``a-b``, any of those with a
step (``*/15``, ``5/15`` = 5, 20, 35, 50, ``1-10/3``), and in the day fields: ``L`` (the month's
last day), ``LW`` (its last weekday, Monday to Friday) and ``L-3`` (three days before the last
day) in the day of month; ``5L`` (the last Friday) and ``1#2`` (the second Monday) in the day of
week. Names and ``L`` may be written in any case. This is the dialect of the cronsim package,
which akjob used before reading cron itself, so stored expressions keep their meaning; ``L-n``
is Quartz's form, with Quartz's meaning.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from akjob.schedule.days import LONGEST
from akjob.schedule.errors import InvalidSchedule

__all__ = ["CronSpec", "parse_cron"]

MONTH_NAMES = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
DAY_NAMES = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
MINUTE, HOUR, DOM, MONTH, DOW = range(5)
#: (name, lowest, highest, names of the values from the lowest on)
FIELDS = (
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day of month", 1, 31, ()),
    ("month", 1, 12, MONTH_NAMES),
    ("day of week", 0, 7, DAY_NAMES),
)


class BadField(ValueError):
    """One field breaks the dialect; the message says which rule."""


@dataclass(frozen=True, slots=True)
class CronSpec:
    """A parsed cron expression. Weekdays are 0 = Sunday … 6 = Saturday.

    ``days_and``: a day must match both day fields (one of them starts with ``*``); otherwise a
    day matching either runs (Vixie cron's rule). ``wall_clock``: neither the minute nor the hour
    field starts with ``*``, so the expression names fixed times of day and follows the fixed-time
    rules for daylight saving time (docs/schedule.md); else it runs on the real clock.
    """

    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    last_day: bool
    last_weekday: bool
    before_last: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    last_weekdays: frozenset[int]
    nth_weekdays: frozenset[tuple[int, int]]
    days_and: bool
    wall_clock: bool

    @property
    def times(self) -> tuple[int, ...]:
        """The times of day it names, in seconds after midnight, sorted."""
        return tuple(sorted(h * 3600 + m * 60 for h in self.hours for m in self.minutes))


def _number(text: str, field: int) -> int:
    name, low, high, names = FIELDS[field]
    if text in names:
        return names.index(text) + low
    if not text.isdigit() or not text.isascii():
        raise BadField(f"{name} {text!r} is not a number" + (" or a name" if names else ""))
    value = int(text)
    if not low <= value <= high:
        raise BadField(f"{name} {value} is outside {low}–{high}")
    return value


def _term(text: str, field: int) -> set[int]:
    """The numbers of one plain term: ``*``, ``a``, ``a-b``, with an optional ``/step``."""
    name, low, high, _ = FIELDS[field]
    base, slash, step_text = text.partition("/")
    step = 1
    if slash:
        if not step_text.isdigit() or not step_text.isascii() or int(step_text) == 0:
            raise BadField(f"{name} step {step_text!r} is not a whole number of 1 or more")
        step = int(step_text)
    if base == "*":
        first, last = low, high
    elif "-" in base:
        start, _, end = base.partition("-")
        first, last = _number(start, field), _number(end, field)
        if last < first:
            raise BadField(f"{name} range {base} runs backwards")
    else:
        first = _number(base, field)
        last = high if slash else first
    return set(range(first, last + 1, step))


@dataclass
class _Days:
    days: set[int]
    last_day: bool = False
    last_weekday: bool = False
    before_last: set[int] = field(default_factory=set)
    last_weekdays: set[int] | None = None
    nth: set[tuple[int, int]] | None = None


def _field(text: str, field: int, days: _Days | None = None) -> set[int]:
    """Every number the comma-separated ``text`` names; the day fields' special terms go to
    ``days``."""
    name = FIELDS[field][0]
    found: set[int] = set()
    for term in text.split(","):
        if not term:
            raise BadField(f"{name} has an empty item in {text!r}")
        if days is not None and field == DOM and term in ("L", "LW"):
            days.last_day |= term == "L"
            days.last_weekday |= term == "LW"
        elif days is not None and field == DOM and term.startswith("L-"):
            back = term[2:]
            if not back.isdigit() or not back.isascii() or not 1 <= int(back) <= 30:
                raise BadField(f"day of month {term!r}: the number after L- must be 1–30")
            days.before_last.add(int(back))
        elif days is not None and field == DOW and term.endswith("L"):
            days.last_weekdays = (days.last_weekdays or set()) | {_number(term[:-1], DOW) % 7}
        elif days is not None and field == DOW and "#" in term:
            weekday, _, nth = term.partition("#")
            if nth not in ("1", "2", "3", "4", "5"):
                raise BadField(f"day of week {term!r}: the number after # must be 1–5")
            days.nth = (days.nth or set()) | {(_number(weekday, DOW) % 7, int(nth))}
        else:
            found |= _term(term, field)
    return found


def parse_cron(expr: object) -> CronSpec:
    """``expr`` read by the dialect above, or InvalidSchedule("cron", …) naming the rule."""
    if not isinstance(expr, str) or len(expr.split()) != 5:
        raise InvalidSchedule("cron", f"{expr!r} is not a cron expression of five fields")
    parts = expr.upper().split()
    try:
        return _spec(parts)
    except BadField as exc:
        raise InvalidSchedule("cron", f"{expr!r} is not a valid cron expression: {exc}") from None


def _spec(parts: list[str]) -> CronSpec:
    minutes = _field(parts[MINUTE], MINUTE)
    hours = _field(parts[HOUR], HOUR)
    dom = _Days(set())
    dom.days = _field(parts[DOM], DOM, dom)
    months = _field(parts[MONTH], MONTH)
    dow = _Days(set())
    weekdays = {day % 7 for day in _field(parts[DOW], DOW, dow)}
    days_and = parts[DOM].startswith("*") or parts[DOW].startswith("*")
    if days_and and dom.days and not (dom.last_day or dom.last_weekday or dom.before_last):
        longest = max(LONGEST[month] for month in months)
        if min(dom.days) > longest:
            named = ", ".join(MONTH_NAMES[month - 1].title() for month in sorted(months))
            raise BadField(f"day of month {min(dom.days)} never occurs in {named}")
    return CronSpec(
        minutes=frozenset(minutes),
        hours=frozenset(hours),
        days=frozenset(dom.days),
        last_day=dom.last_day,
        last_weekday=dom.last_weekday,
        before_last=frozenset(dom.before_last),
        months=frozenset(months),
        weekdays=frozenset(weekdays),
        last_weekdays=frozenset(dow.last_weekdays or ()),
        nth_weekdays=frozenset(dow.nth or ()),
        days_and=days_and,
        wall_clock=not (parts[MINUTE].startswith("*") or parts[HOUR].startswith("*")),
    )
