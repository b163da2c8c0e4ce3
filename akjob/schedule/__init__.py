"""akjob's schedule engine: pure functions from a schedule and an instant to run times.

Standard library and zoneinfo only; no Django, and the clock is never read (time is an argument).
See docs/schedule.md for the rules.
"""

from __future__ import annotations

from akjob.schedule.calculator import next_after, next_at_or_after, upcoming
from akjob.schedule.count import count_between
from akjob.schedule.describe import describe, explain_empty
from akjob.schedule.errors import InvalidSchedule
from akjob.schedule.spec import (
    CronSource,
    DatesSource,
    Holidays,
    IntervalSource,
    Limits,
    MonthlySource,
    Schedule,
    Source,
    WeeklySource,
    validate_cron,
)

__all__ = [
    "CronSource",
    "DatesSource",
    "Holidays",
    "IntervalSource",
    "InvalidSchedule",
    "Limits",
    "MonthlySource",
    "Schedule",
    "Source",
    "WeeklySource",
    "count_between",
    "describe",
    "explain_empty",
    "next_after",
    "next_at_or_after",
    "upcoming",
    "validate_cron",
]
