"""What a schedule is: its sources (when it would run) and its limits (when it may run).

Plain frozen values, validated on construction. A source or limit that is built is valid, so the
calculator never has to second-guess its input. Errors name the model field the value comes from.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from akjob.schedule.cronparse import parse_cron
from akjob.schedule.errors import InvalidSchedule

__all__ = [
    "CronSource",
    "DatesSource",
    "Holidays",
    "IntervalSource",
    "Limits",
    "MonthlySource",
    "Schedule",
    "Source",
    "WeeklySource",
    "validate_cron",
]

SECOND = timedelta(seconds=1)
#: The longest jitter: a day. Longer ones would move runs across days and past later runs.
LONGEST_JITTER = timedelta(days=1)
LAST = -1  # k of an ``nth`` weekday: the month's last one


def _set(
    field_name: str, values: Iterable[int] | None, low: int, high: int, what: str
) -> frozenset[int] | None:
    """``values`` as a frozenset of ints within [low, high], or InvalidSchedule for ``field``."""
    if values is None:
        return None
    try:
        items = frozenset(values)
    except TypeError:
        raise InvalidSchedule(field_name, f"must be a set of {what} numbers") from None
    if not items:
        raise InvalidSchedule(field_name, f"must name at least one {what}")
    for item in sorted(items, key=repr):
        if isinstance(item, bool) or not isinstance(item, int):
            raise InvalidSchedule(field_name, f"{item!r} is not a {what} number")
        if not low <= item <= high:
            raise InvalidSchedule(field_name, f"{item} is not a {what} ({low}–{high})")
    return items


def _aware(field_name: str, value: object) -> datetime:
    """``value`` in UTC with the microseconds dropped (the resolution is one second)."""
    if not isinstance(value, datetime):
        raise InvalidSchedule(field_name, f"{value!r} is not a datetime")
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidSchedule(field_name, f"{value} is a naive datetime; give it a time zone")
    return value.astimezone(UTC).replace(microsecond=0)


def _wall_time(field_name: str, value: object) -> time:
    if not isinstance(value, time):
        raise InvalidSchedule(field_name, f"{value!r} is not a time of day")
    if value.tzinfo is not None:
        raise InvalidSchedule(
            field_name, f"{value} carries a time zone; give a wall-clock time, the zone apart"
        )
    return value


def _zone(field_name: str, value: object) -> tzinfo:
    if not isinstance(value, tzinfo):
        raise InvalidSchedule(field_name, f"{value!r} is not a time zone")
    return value


@dataclass(frozen=True, slots=True)
class DatesSource:
    """Runs once at each of ``times`` (aware; kept sorted, in UTC, to the second)."""

    times: tuple[datetime, ...]

    def __post_init__(self) -> None:
        if isinstance(self.times, datetime | str) or not isinstance(self.times, Iterable):
            raise InvalidSchedule("dates", "must be a sequence of datetimes")
        normal = sorted({_aware("dates", t) for t in self.times})
        object.__setattr__(self, "times", tuple(normal))


@dataclass(frozen=True, slots=True)
class IntervalSource:
    """Runs at ``anchor + k * every`` for k >= 1: elapsed time, blind to daylight saving time."""

    anchor: datetime
    every: timedelta

    def __post_init__(self) -> None:
        object.__setattr__(self, "anchor", _aware("_last_interval", self.anchor))
        every = self.every
        if not isinstance(every, timedelta):
            raise InvalidSchedule("run_every", f"{every!r} is not a duration")
        if every <= timedelta(0):
            raise InvalidSchedule("run_every", f"must be positive, not {every}")
        if every < SECOND:
            raise InvalidSchedule("run_every", f"must be at least one second, not {every}")
        if every % SECOND:
            raise InvalidSchedule("run_every", f"must be a whole number of seconds, not {every}")


def _dates(field_name: str, values: Iterable[date] | None) -> frozenset[date]:
    if values is None:
        return frozenset()
    if isinstance(values, str | date) or not isinstance(values, Iterable):
        raise InvalidSchedule(field_name, "must be a set of dates")
    items = frozenset(values)
    for item in items:
        if isinstance(item, datetime) or not isinstance(item, date):
            raise InvalidSchedule(field_name, f"{item!r} is not a date")
    return items


def _nth(values: Iterable[tuple[int, int]] | None) -> frozenset[tuple[int, int]]:
    if values is None:
        return frozenset()
    try:
        items = frozenset(values)
    except TypeError:
        raise InvalidSchedule("month_positions", "must be a set of (weekday, k) pairs") from None
    for item in items:
        if (
            not isinstance(item, tuple)
            or len(item) != 2
            or not all(isinstance(n, int) and not isinstance(n, bool) for n in item)
        ):
            raise InvalidSchedule("month_positions", f"{item!r} is not a (weekday, k) pair")
        weekday, k = item
        if not 1 <= weekday <= 7:
            raise InvalidSchedule("month_positions", f"{weekday} is not a weekday (1–7)")
        if k != LAST and not 1 <= k <= 5:
            raise InvalidSchedule("month_positions", f"{k} is not 1–5 or -1 (the last)")
    return items


@dataclass(frozen=True, slots=True)
class MonthlySource:
    """Runs on days of every month at wall-clock ``at`` in ``tz``: each of ``days`` (1–31),
    each day ``n`` days before the month's last for n in ``from_last`` (0 is the last day), and
    each (weekday, k) of ``nth``: the k-th such weekday (1–5; -1 the last), weekdays numbered
    1 = Sunday … 7 = Saturday.

    A day that a month lacks (31 in April, a fifth Monday) is skipped in that month.
    """

    days: frozenset[int]
    at: time
    tz: tzinfo = UTC
    from_last: frozenset[int] = frozenset()
    nth: frozenset[tuple[int, int]] = frozenset()

    def __post_init__(self) -> None:
        from_last = _set("month_positions", self.from_last or None, 0, 30, "days before the last")
        object.__setattr__(self, "from_last", from_last or frozenset())
        object.__setattr__(self, "nth", _nth(self.nth))
        days: frozenset[int] | None = self.days
        if self.from_last or self.nth:
            days = days or None
        days = _set("monthly_days", days, 1, 31, "day of the month")
        object.__setattr__(self, "days", days or frozenset())
        _wall_time("monthly_time", self.at)
        _zone("monthly_time_tz_offset_timedelta", self.tz)

    @property
    def positions(self) -> bool:
        """True when days are also picked by their place in the month."""
        return bool(self.from_last or self.nth)


@dataclass(frozen=True, slots=True)
class WeeklySource:
    """Runs on each of ``days`` (1 = Sunday … 7 = Saturday) at wall-clock ``at`` in ``tz``."""

    days: frozenset[int]
    at: time
    tz: tzinfo = UTC

    def __post_init__(self) -> None:
        object.__setattr__(self, "days", _set("weekly_days", self.days, 1, 7, "weekday"))
        _wall_time("weekly_time", self.at)
        _zone("weekly_time_tz_offset_timedelta", self.tz)


def validate_cron(expr: str) -> None:
    """Raise InvalidSchedule("cron", …) unless ``expr`` is a five-field cron expression of
    akjob's dialect (docs/schedule.md, "Cron")."""
    parse_cron(expr)


@dataclass(frozen=True, slots=True)
class CronSource:
    """Runs when the five-field cron expression ``expr`` matches, read in ``tz``.

    No extra package is needed: akjob reads cron itself (:mod:`akjob.schedule.cronparse`).
    """

    expr: str
    tz: tzinfo = UTC

    def __post_init__(self) -> None:
        validate_cron(self.expr)
        _zone("timezone", self.tz)


Source = DatesSource | IntervalSource | MonthlySource | WeeklySource | CronSource
_SOURCE_TYPES = (DatesSource, IntervalSource, MonthlySource, WeeklySource, CronSource)


@dataclass(frozen=True, slots=True)
class Holidays:
    """A calendar of public holidays as plain data: its ``name`` (e.g. ``"US"``, ``"DE-BY"``,
    for describing it) and its ``dates``, resolved before the engine sees them."""

    name: str
    dates: frozenset[date]

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise InvalidSchedule("holidays", "the calendar needs a name")
        object.__setattr__(self, "dates", _dates("holidays", self.dates))


@dataclass(frozen=True, slots=True)
class Limits:
    """When runs may happen. None means no limit; every limit is read on local time in ``tz``.

    ``window`` is ``(begin, end)``, both inclusive; begin > end wraps midnight. Weekdays are
    1 = Sunday … 7 = Saturday. ``date_begin`` and ``date_end`` are inclusive. No run falls on
    one of ``exclude_dates`` or of the ``holidays``; with ``business_days`` only Monday to
    Friday are allowed (with ``holidays``: the weekdays that are not holidays).
    """

    tz: tzinfo = UTC
    window: tuple[time, time] | None = None
    weekdays: frozenset[int] | None = None
    monthdays: frozenset[int] | None = None
    months: frozenset[int] | None = None
    date_begin: date | None = None
    date_end: date | None = None
    exclude_dates: frozenset[date] = frozenset()
    holidays: Holidays | None = None
    business_days: bool = False

    def __post_init__(self) -> None:
        _zone("active_time_tz_offset_timedelta", self.tz)
        object.__setattr__(self, "exclude_dates", _dates("exclude_dates", self.exclude_dates))
        if self.holidays is not None and not isinstance(self.holidays, Holidays):
            raise InvalidSchedule("holidays", f"{self.holidays!r} is not a Holidays calendar")
        if not isinstance(self.business_days, bool):
            raise InvalidSchedule("business_days_only", "must be True or False")
        self._check_window()
        days = _set("active_weekly_days", self.weekdays, 1, 7, "weekday")
        object.__setattr__(self, "weekdays", days)
        days = _set("active_monthly_days", self.monthdays, 1, 31, "day of the month")
        object.__setattr__(self, "monthdays", days)
        object.__setattr__(self, "months", _set("active_months", self.months, 1, 12, "month"))
        for name, value in (
            ("active_date_begin", self.date_begin),
            ("active_date_end", self.date_end),
        ):
            if value is not None and (isinstance(value, datetime) or not isinstance(value, date)):
                raise InvalidSchedule(name, f"{value!r} is not a date")
        if self.date_begin and self.date_end and self.date_begin > self.date_end:
            raise InvalidSchedule(
                "active_date_begin",
                f"{self.date_begin} is after active_date_end {self.date_end}",
            )

    def _check_window(self) -> None:
        if self.window is None:
            return
        try:
            begin, end = self.window
        except (TypeError, ValueError):
            raise InvalidSchedule("active_time_begin", "the window must be (begin, end)") from None
        if begin is None and end is None:
            object.__setattr__(self, "window", None)
            return
        if begin is None:
            raise InvalidSchedule("active_time_begin", "is required when active_time_end is set")
        if end is None:
            raise InvalidSchedule("active_time_end", "is required when active_time_begin is set")
        _wall_time("active_time_begin", begin)
        _wall_time("active_time_end", end)
        object.__setattr__(self, "window", (begin, end))

    @property
    def unlimited(self) -> bool:
        """True when no limit is set at all."""
        return (
            self.window is None
            and self.weekdays is None
            and self.monthdays is None
            and self.months is None
            and self.date_begin is None
            and self.date_end is None
            and not self.exclude_dates
            and self.holidays is None
            and not self.business_days
        )

    @property
    def excluded(self) -> frozenset[date]:
        """Every date no run may fall on: ``exclude_dates`` and the holidays."""
        if self.holidays is None:
            return self.exclude_dates
        return self.exclude_dates | self.holidays.dates


@dataclass(frozen=True, slots=True)
class Schedule:
    """A job's run times: the union of ``sources``, filtered by ``limits``.

    ``remaining`` is how many runs are left (run_count_limit − run count), None for no limit.
    With ``jitter``, each run time moves later by an offset in [0, jitter] fixed by ``seed``
    (the job) and the run time (see :mod:`akjob.schedule.jitter`); limits then apply to the moved
    time.
    """

    sources: tuple[Source, ...] = ()
    limits: Limits = field(default_factory=Limits)
    enabled: bool = True
    remaining: int | None = None
    jitter: timedelta = timedelta(0)
    seed: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.sources, tuple | list):
            raise InvalidSchedule("sources", "must be a tuple of sources")
        for source in self.sources:
            if not isinstance(source, _SOURCE_TYPES):
                raise InvalidSchedule("sources", f"{source!r} is not a schedule source")
        object.__setattr__(self, "sources", tuple(self.sources))
        if not isinstance(self.limits, Limits):
            raise InvalidSchedule("limits", f"{self.limits!r} is not a Limits")
        remaining = self.remaining
        if remaining is not None and (
            isinstance(remaining, bool) or not isinstance(remaining, int) or remaining < 0
        ):
            raise InvalidSchedule(
                "run_count_limit", f"runs left must be 0 or more, not {remaining}"
            )
        jitter = self.jitter
        if not isinstance(jitter, timedelta):
            raise InvalidSchedule("jitter", f"{jitter!r} is not a duration")
        if jitter < timedelta(0) or jitter > LONGEST_JITTER:
            raise InvalidSchedule("jitter", f"must be from 0 to 1 day, not {jitter}")
        if jitter % SECOND:
            raise InvalidSchedule("jitter", f"must be a whole number of seconds, not {jitter}")
        if not isinstance(self.seed, str):
            raise InvalidSchedule("jitter", f"the seed must be a string, not {self.seed!r}")
