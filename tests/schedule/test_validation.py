"""Bad input is refused with InvalidSchedule naming the model field (docs/schedule.md)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta, timezone
from pathlib import Path

import pytest

from akjob.schedule import (
    CronSource,
    DatesSource,
    IntervalSource,
    InvalidSchedule,
    Limits,
    MonthlySource,
    Schedule,
    WeeklySource,
    next_after,
    validate_cron,
)
from tests.schedule.helpers import DENVER, utc

ROOT = Path(__file__).resolve().parents[2]
NOON = time(12)
ANCHOR = utc(2027, 1, 1)

BAD = [
    ("weekly_days", lambda: WeeklySource(frozenset({0}), NOON)),
    ("weekly_days", lambda: WeeklySource(frozenset({8}), NOON)),
    ("weekly_days", lambda: WeeklySource(frozenset(), NOON)),
    ("weekly_days", lambda: WeeklySource(frozenset({"1"}), NOON)),  # type: ignore[arg-type]
    ("weekly_days", lambda: WeeklySource(frozenset({True}), NOON)),
    ("weekly_time", lambda: WeeklySource(frozenset({1}), "12:00")),  # type: ignore[arg-type]
    ("weekly_time", lambda: WeeklySource(frozenset({1}), time(12, tzinfo=UTC))),
    ("weekly_time_tz_offset_timedelta", lambda: WeeklySource(frozenset({1}), NOON, "UTC")),  # type: ignore[arg-type]
    ("monthly_days", lambda: MonthlySource(frozenset({0}), NOON)),
    ("monthly_days", lambda: MonthlySource(frozenset({32}), NOON)),
    ("monthly_time", lambda: MonthlySource(frozenset({1}), None)),  # type: ignore[arg-type]
    ("run_every", lambda: IntervalSource(ANCHOR, timedelta(0))),
    ("run_every", lambda: IntervalSource(ANCHOR, timedelta(seconds=-1))),
    ("run_every", lambda: IntervalSource(ANCHOR, timedelta(milliseconds=500))),
    ("run_every", lambda: IntervalSource(ANCHOR, timedelta(seconds=1.5))),
    ("run_every", lambda: IntervalSource(ANCHOR, 60)),  # type: ignore[arg-type]
    ("_last_interval", lambda: IntervalSource(datetime(2027, 1, 1), timedelta(hours=1))),
    ("dates", lambda: DatesSource((utc(2027, 1, 1), datetime(2027, 1, 2)))),
    ("dates", lambda: DatesSource((date(2027, 1, 1),))),  # type: ignore[arg-type]
    ("dates", lambda: DatesSource(utc(2027, 1, 1))),  # type: ignore[arg-type]
    ("cron", lambda: CronSource("* * *")),
    ("cron", lambda: CronSource("0 0 0 * * *")),
    ("cron", lambda: CronSource("61 * * * *")),
    ("cron", lambda: CronSource("0 24 * * *")),
    ("cron", lambda: CronSource("0 0 * * 8")),
    ("cron", lambda: CronSource("0 0 30 2 *")),
    ("cron", lambda: CronSource("*/0 * * * *")),
    ("cron", lambda: CronSource("")),
    ("active_time_end", lambda: Limits(window=(NOON, None))),  # type: ignore[arg-type]
    ("active_time_begin", lambda: Limits(window=(None, NOON))),  # type: ignore[arg-type]
    ("active_time_begin", lambda: Limits(window=(NOON,))),  # type: ignore[arg-type]
    ("active_time_begin", lambda: Limits(window=(time(8, tzinfo=UTC), NOON))),
    ("active_weekly_days", lambda: Limits(weekdays=frozenset({0}))),
    ("active_weekly_days", lambda: Limits(weekdays=frozenset({8}))),
    ("active_monthly_days", lambda: Limits(monthdays=frozenset({0}))),
    ("active_monthly_days", lambda: Limits(monthdays=frozenset({32}))),
    ("active_months", lambda: Limits(months=frozenset({0}))),
    ("active_months", lambda: Limits(months=frozenset({13}))),
    ("active_months", lambda: Limits(months=frozenset())),
    ("active_date_begin", lambda: Limits(date_begin=date(2027, 2, 1), date_end=date(2027, 1, 1))),
    ("active_date_begin", lambda: Limits(date_begin=utc(2027, 1, 1))),  # type: ignore[arg-type]
    ("active_date_end", lambda: Limits(date_end="2027-01-01")),  # type: ignore[arg-type]
    ("active_time_tz_offset_timedelta", lambda: Limits(tz=timedelta(hours=1))),  # type: ignore[arg-type]
    ("run_count_limit", lambda: Schedule((), remaining=-1)),
    ("sources", lambda: Schedule(("0 * * * *",))),  # type: ignore[arg-type]
    ("limits", lambda: Schedule((), limits=None)),  # type: ignore[arg-type]
]


@pytest.mark.parametrize(
    ("field", "build"), BAD, ids=[f"{i:02d}-{field}" for i, (field, _) in enumerate(BAD)]
)
def test_bad_input_names_the_field(field: str, build: Callable[[], object]) -> None:
    with pytest.raises(InvalidSchedule) as caught:
        build()
    assert caught.value.field == field
    assert caught.value.rule == str(caught.value) == caught.value.message
    assert caught.value.rule
    assert isinstance(caught.value, ValueError)


def test_validate_cron() -> None:
    validate_cron("*/15 8-16 * * 1-5")
    validate_cron("0 0 L * *")
    with pytest.raises(InvalidSchedule, match="five fields") as caught:
        validate_cron("0 0 0 * * *")
    assert caught.value.field == "cron"


def test_good_values_are_normalised() -> None:
    dates = DatesSource(
        (datetime(2027, 1, 2, 1, 0, 0, 900, tzinfo=DENVER), utc(2027, 1, 1), utc(2027, 1, 1))
    )
    assert dates.times == (utc(2027, 1, 1), utc(2027, 1, 2, 8))
    assert IntervalSource(
        datetime(2027, 1, 1, tzinfo=timezone(timedelta(hours=1))), timedelta(hours=1)
    ).anchor == utc(2026, 12, 31, 23)
    assert WeeklySource([1, 2], NOON).days == frozenset({1, 2})  # type: ignore[arg-type]
    assert Limits(window=(None, None)).window is None  # type: ignore[arg-type]


def test_cron_needs_no_extra_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "cronsim", None)
    schedule = Schedule((CronSource("0 3 * * *"),))
    assert next_after(schedule, after=utc(2027, 1, 1)) == utc(2027, 1, 1, 3)


def test_engine_is_pure() -> None:
    """Importing and using the engine, cron included, pulls in neither Django nor cronsim."""
    code = (
        "import sys, datetime as d; import akjob.schedule as s;"
        "s.upcoming(s.Schedule((s.IntervalSource(d.datetime(2027,1,1,tzinfo=d.UTC),"
        "d.timedelta(hours=1)), s.CronSource('*/5 1 * * 1-5'))),"
        " after=d.datetime(2027,3,1,tzinfo=d.UTC));"
        "assert 'django' not in sys.modules and 'cronsim' not in sys.modules, sorted(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_engine_never_reads_the_clock() -> None:
    for path in (ROOT / "akjob" / "schedule").glob("*.py"):
        text = path.read_text()
        for call in (".now(", ".today(", ".utcnow(", "time.time(", "monotonic("):
            assert call not in text, f"{path.name} calls {call}"
