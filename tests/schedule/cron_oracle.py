"""Cron by brute force, for tests: docs/schedule.md's rules applied minute by minute.

Shares no code with the engine. cronsim reads the fields (a second, independent reader of the
same dialect: its sets and its day rule, ``match_day``); the daylight saving rules are applied
here the slow way:

* real clock (the minute or the hour field starts with ``*``): every minute of UTC is tried, and
  it is a run time when its wall-clock reading matches;
* fixed times: every matching (day, time) of the wall clock is mapped to an instant by
  :func:`wall_clock` (a skipped time runs at the first instant after the gap, a repeated one at
  its first pass), and equal instants are one run.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, tzinfo

from cronsim import CronSim

MINUTE = timedelta(minutes=1)


def wall_clock(day: date, at: time, tz: tzinfo) -> datetime:
    """The fixed-time rule: a skipped wall-clock time runs at the first instant after the gap;
    a repeated one runs at its first occurrence."""
    naive = datetime.combine(day, at)
    first = naive.replace(tzinfo=tz, fold=0)
    if first.astimezone(UTC).astimezone(tz).replace(tzinfo=None) == naive:
        return first.astimezone(UTC)
    instant = naive.replace(tzinfo=tz, fold=1).astimezone(UTC).replace(second=0)
    while instant.astimezone(tz).replace(tzinfo=None) < naive:
        instant += MINUTE
    return instant


def local_days(start: datetime, end: datetime, tz: tzinfo) -> list[date]:
    """Every local date that a run between ``start`` and ``end`` can belong to (with margins)."""
    first = start.astimezone(tz).date() - timedelta(days=2)
    last = end.astimezone(tz).date() + timedelta(days=1)
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def is_fixed(expr: str) -> bool:
    minute, hour = expr.split()[:2]
    return not minute.startswith("*") and not hour.startswith("*")


def _matches(fields: CronSim, reading: datetime) -> bool:
    return (
        reading.minute in fields.minutes
        and reading.hour in fields.hours
        and reading.month in fields.months
        and fields.match_day(reading.date())
    )


def cron_runs(expr: str, tz: tzinfo, start: datetime, end: datetime) -> list[datetime]:
    """Every run time of ``expr`` read in ``tz`` in [start, end], sorted, in UTC."""
    fields = CronSim(expr, datetime(2000, 1, 1, tzinfo=UTC))
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    found: set[datetime] = set()
    if is_fixed(expr):
        times = [time(h, m) for h in sorted(fields.hours) for m in sorted(fields.minutes)]
        for day in local_days(start, end, tz):
            if day.month in fields.months and fields.match_day(day):
                found.update(wall_clock(day, at, tz) for at in times)
    else:
        instant = start.replace(second=0, microsecond=0)
        while instant <= end:
            if _matches(fields, instant.astimezone(tz)):
                found.add(instant)
            instant += MINUTE
    return sorted(run for run in found if start <= run <= end)
