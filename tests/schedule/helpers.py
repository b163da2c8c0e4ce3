"""Shorthands for the schedule engine's tests (no Django here)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta, timezone, tzinfo
from typing import TypeVar
from zoneinfo import ZoneInfo

from akjob.schedule import (
    IntervalSource,
    Limits,
    MonthlySource,
    Schedule,
    Source,
    WeeklySource,
    upcoming,
)

DENVER = ZoneInfo("America/Denver")
LONDON = ZoneInfo("Europe/London")
LORD_HOWE = ZoneInfo("Australia/Lord_Howe")
HAVANA = ZoneInfo("America/Havana")
KATHMANDU = ZoneInfo("Asia/Kathmandu")
CHATHAM = ZoneInfo("Pacific/Chatham")
WEST = timezone(timedelta(hours=-7))
EAST = timezone(timedelta(hours=5, minutes=30))
EVERY_DAY = frozenset(range(1, 8))
MON_FRI = frozenset(range(2, 7))
T = TypeVar("T")


def offset_changes(zone: tzinfo, step: timedelta = timedelta(minutes=15)) -> list[datetime]:
    """The instants, 2026–2029, at which ``zone`` changes its offset, found ``step`` by ``step``
    (exact where the changes fall on a multiple of ``step`` in UTC, as they all do at 15 min)."""
    found = []
    instant = datetime(2026, 1, 1, tzinfo=UTC)
    offset = instant.astimezone(zone).utcoffset()
    while instant.year < 2030:
        instant += step
        now_offset = instant.astimezone(zone).utcoffset()
        if now_offset != offset:
            found.append(instant)
            offset = now_offset
    return found


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def hm(hour: int, minute: int = 0, second: int = 0) -> time:
    return time(hour, minute, second)


def daily(at: time, tz: tzinfo = UTC) -> WeeklySource:
    return WeeklySource(EVERY_DAY, at, tz)


def monthly(days: set[int], at: time, tz: tzinfo = UTC) -> MonthlySource:
    return MonthlySource(frozenset(days), at, tz)


def weekly(days: set[int], at: time, tz: tzinfo = UTC) -> WeeklySource:
    return WeeklySource(frozenset(days), at, tz)


def every(anchor: datetime, **delta: float) -> IntervalSource:
    return IntervalSource(anchor, timedelta(**delta))


def sched(*sources: Source, **limits: object) -> Schedule:
    return Schedule(tuple(sources), Limits(**limits))  # type: ignore[arg-type]


def runs(schedule: Schedule, after: datetime, count: int = 10) -> list[datetime]:
    return upcoming(schedule, after=after, count=count)


def calls_during(work: Callable[[], T]) -> tuple[T, int]:
    """``work()``'s result and how many Python function calls it made: a measure of the work
    done that, unlike a clock, does not depend on the machine. Walking run times one by one
    costs calls in proportion to their number; counting them does not."""
    calls = 0

    def profile(frame: object, event: str, arg: object) -> None:
        nonlocal calls
        if event == "call":
            calls += 1

    sys.setprofile(profile)
    try:
        result = work()
    finally:
        sys.setprofile(None)
    return result, calls
