"""Schedules in words: one line for humans, and why a schedule has no next run."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time, timedelta

from akjob.schedule.calculator import next_after
from akjob.schedule.days import CYCLE
from akjob.schedule.limits import Allowed
from akjob.schedule.sources import FixedTime, Never, compile_source
from akjob.schedule.spec import (
    CronSource,
    DatesSource,
    IntervalSource,
    Limits,
    MonthlySource,
    Schedule,
    Source,
    WeeklySource,
)
from akjob.schedule.zones import SECOND, Zone, day_of, floor_seconds

__all__ = ["describe", "explain_empty"]

WEEKDAYS = ("", "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat")
MONTHS = ("", "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
UNITS = ((86400, "day"), (3600, "hour"), (60, "minute"), (1, "second"))


def _runs(numbers: Iterable[int]) -> list[tuple[int, int]]:
    """Sorted numbers grouped into runs of consecutive values, as (first, last)."""
    runs: list[tuple[int, int]] = []
    for number in sorted(numbers):
        if runs and number == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], number)
        else:
            runs.append((number, number))
    return runs


def _ranges(numbers: Iterable[int], names: tuple[str, ...] | None = None) -> str:
    """``1–10, 15`` or ``Mon–Fri``; runs of three or more become a range."""
    words: list[str] = []
    for first, last in _runs(numbers):
        name = (lambda n: names[n]) if names else str
        if last - first >= 2:
            words.append(f"{name(first)}\u2013{name(last)}")
        else:
            words.extend(name(n) for n in range(first, last + 1))
    return ", ".join(words)


def _moment(value: datetime) -> str:
    """``2027-06-07 09:00:00 UTC``: a moment to the second, with its zone."""
    zone = value.tzname() or ""
    return f"{value:%Y-%m-%d %H:%M:%S} {zone}".rstrip()


def _clock(value: time) -> str:
    return value.strftime("%H:%M:%S" if value.second else "%H:%M")


def _every(every: timedelta) -> str:
    seconds = every // SECOND
    for size, unit in UNITS:
        if seconds % size == 0:
            count = seconds // size
            return f"every {unit}" if count == 1 else f"every {count} {unit}s"
    return f"every {seconds} seconds"  # pragma: no cover - the unit of one second always divides


def _weekdays(days: frozenset[int]) -> str:
    return "every day" if len(days) == 7 else _ranges(days, WEEKDAYS)


ORDINALS = {1: "first", 2: "second", 3: "third", 4: "fourth", 5: "fifth", -1: "last"}
FULL_WEEKDAYS = ("", "Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")


def _positions(source: MonthlySource) -> str:
    """ "day 1, the last day, 3 days before the last and the first Monday" of a month."""
    words: list[str] = []
    if source.days:
        word = "day" if len(source.days) == 1 else "days"
        words.append(f"{word} {_ranges(source.days)}")
    for back in sorted(source.from_last):
        if back == 0:
            words.append("the last day")
        else:
            words.append(f"{back} day{'s' if back > 1 else ''} before the last")
    for weekday, k in sorted(source.nth, key=lambda pair: (pair[1] % 6, pair[0])):
        words.append(f"the {ORDINALS[k]} {FULL_WEEKDAYS[weekday]}")
    return _and(words)


def _source(source: Source) -> str:
    if isinstance(source, DatesSource):
        count = len(source.times)
        return "1 date" if count == 1 else f"{count} dates"
    if isinstance(source, IntervalSource):
        return _every(source.every)
    if isinstance(source, MonthlySource):
        at = f"{_clock(source.at)} {Zone(source.tz).name()}"
        if source.positions:
            return f"on {_positions(source)} of the month at {at}"
        word = "day" if len(source.days) == 1 else "days"
        return f"on {word} {_ranges(source.days)} of the month at {at}"
    if isinstance(source, WeeklySource):
        return f"{_weekdays(source.days)} at {_clock(source.at)} {Zone(source.tz).name()}"
    return f"cron '{source.expr}' ({Zone(source.tz).name()})"


def _limits(limits: Limits) -> list[str]:
    parts: list[str] = []
    zone = Zone(limits.tz).name()
    if limits.window is not None:
        begin, end = limits.window
        parts.append(f"{_clock(begin)}\u2013{_clock(end)} {zone}")
    if limits.weekdays is not None:
        parts.append(_weekdays(limits.weekdays))
    if limits.monthdays is not None:
        word = "day" if len(limits.monthdays) == 1 else "days"
        parts.append(f"{word} {_ranges(limits.monthdays)}")
    if limits.months is not None:
        parts.append(_ranges(limits.months, MONTHS))
    begin, end = limits.date_begin, limits.date_end
    if begin and end:
        parts.append(f"{begin} to {end}")
    elif begin or end:
        parts.append(f"from {begin}" if begin else f"until {end}")
    if limits.business_days:
        parts.append("business days only")
    if limits.holidays is not None:
        parts.append(f"not on {limits.holidays.name} holidays")
    if limits.exclude_dates:
        count = len(limits.exclude_dates)
        if count <= 3:
            parts.append("not on " + _and([str(day) for day in sorted(limits.exclude_dates)]))
        else:
            parts.append(f"not on {count} excluded dates")
    if parts and limits.window is None and zone != "UTC":
        parts[-1] += f" ({zone})"
    return parts


def describe(schedule: Schedule) -> str:
    """One short, deterministic line: "every 15 minutes, 08:00–16:00 UTC−07:00, Mon–Fri"."""
    if not schedule.enabled:
        return "disabled"
    if schedule.remaining == 0:
        return "no more runs (limit reached)"
    if not schedule.sources:
        return "nothing scheduled"
    parts = ["; ".join(_source(source) for source in schedule.sources)]
    parts.extend(_limits(schedule.limits))
    if schedule.jitter:
        parts.append(f"each moved by up to {_duration(schedule.jitter)} (jitter)")
    if schedule.remaining is not None:
        left = schedule.remaining
        parts.append("1 run left" if left == 1 else f"{left} runs left")
    return ", ".join(parts)


def _duration(value: timedelta) -> str:
    """ "10 minutes", "1 hour", "90 seconds"."""
    words = _every(value)
    return "1 " + words.removeprefix("every ") if words.count(" ") == 1 else words[6:]


def _listed(values: Iterable[int]) -> str:
    return "[" + ", ".join(str(v) for v in sorted(values)) + "]"


def _and(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _day_limits(limits: Limits, own: list[str] | None = None, *, dates: bool = False) -> str:
    """The day limits that are set, as "active_months [2] and active_monthly_days [30]"."""
    words = list(own or [])
    for name, values in (
        ("active_weekly_days", limits.weekdays),
        ("active_monthly_days", limits.monthdays),
        ("active_months", limits.months),
    ):
        if values is not None:
            words.append(f"{name} {_listed(values)}")
    if dates and limits.date_begin:
        words.append(f"active_date_begin {limits.date_begin}")
    if dates and limits.date_end:
        words.append(f"active_date_end {limits.date_end}")
    return _and(words)


def _window(limits: Limits) -> str:
    begin, end = limits.window or (time(0), time(23, 59, 59))
    return f"{_clock(begin)}\u2013{_clock(end)} {Zone(limits.tz).name()}"


def _source_reason(source: Source, limits: Limits, today: int, after: datetime) -> str | None:
    """Why ``source`` yields nothing the limits allow; None when no single reason is clear."""
    if next_after(Schedule((source,)), after=after) is None:
        if isinstance(source, DatesSource):
            return f"all dates are on or before {_moment(after)}" if source.times else "no dates"
        if isinstance(source, CronSource):
            return f"cron '{source.expr}' has no run time after {_moment(after)}"
        return None
    allowed = Allowed(limits)
    if isinstance(source, DatesSource | CronSource) or allowed.is_open:
        return None
    runner = compile_source(source, allowed)
    if isinstance(source, IntervalSource):
        if isinstance(runner, Never):
            return f"the run_every grid ({_every(source.every)}) never meets {_window(limits)}"
        return None
    kind = "monthly" if isinstance(source, MonthlySource) else "weekly"
    own = [f"{kind}_days {_listed(source.days)}"] if source.days else []
    if isinstance(source, MonthlySource) and source.positions:
        own.append(f"month_positions ({_positions(source)})")
    plain = FixedTime.of(source)
    if plain.zone == allowed.zone and not plain.days.meet(allowed.days).possible():
        return f"{_day_limits(limits, own)} allow no day"
    if isinstance(runner, Never):
        return f"{kind}_time {_clock(source.at)} is outside the active time {_window(limits)}"
    if isinstance(runner, FixedTime) and not runner.days.possible():
        return f"{_day_limits(limits, own)} allow no day"
    if isinstance(runner, FixedTime) and runner.days.next(today, today + CYCLE) is None:
        named = _day_limits(limits, own, dates=True)
        return f"{named} allow no day from {date.fromordinal(today)} on"
    return None


def explain_empty(schedule: Schedule, *, after: datetime) -> str | None:
    """None when the schedule has a run after ``after``; else why not, naming the culprit."""
    if next_after(schedule, after=after) is not None:
        return None
    if not schedule.enabled:
        return "the job is disabled (job_enabled is off)"
    if schedule.remaining == 0:
        return "run_count_limit is reached: no runs are left"
    if not schedule.sources:
        return "it has no source: set run_every, dates, monthly_days, weekly_days or cron"
    limits = schedule.limits
    allowed = Allowed(limits)
    if not allowed.days.possible():
        return f"{_day_limits(limits)} allow no day"
    today = day_of(allowed.zone.local(floor_seconds(after)))
    if limits.date_end is not None and limits.date_end.toordinal() < today:
        return (
            f"the date range ends on {limits.date_end} (active_date_end), before {_moment(after)}"
        )
    if allowed.days.next(today, today + CYCLE) is None:
        named = _day_limits(limits, dates=True)
        return f"{named} allow no day from {date.fromordinal(today)} on"
    reasons = [_source_reason(source, limits, today, after) for source in schedule.sources]
    if all(reasons):
        return "; ".join(reason for reason in reasons if reason)
    return (
        f"no run of {describe(Schedule(schedule.sources))} passes the limits"
        f" ({', '.join(_limits(limits))}) within 400 years after {_moment(after)}"
    )
