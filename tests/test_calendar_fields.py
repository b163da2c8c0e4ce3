"""The job fields for calendars, places in the month and jitter: stored, validated, read into
the engine, shown by describe(), upcoming() and ``akjobd showinfo``."""

from __future__ import annotations

import io
import sys
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command

from akjob import schedule as engine
from akjob.calendars import holiday_calendar, parse_positions
from akjob.jobschedule import to_schedule
from akjob.models import Job, JobCallable

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 12, 28, 12, 0, tzinfo=UTC)  # a Monday
NEW_YORK = ZoneInfo("America/New_York")
WEEKDAYS = [2, 3, 4, 5, 6]


@pytest.fixture
def clock(time_machine) -> None:  # type: ignore[no-untyped-def]
    time_machine.move_to(NOW, tick=False)


def make(**fields: object) -> Job:
    job = Job(name=str(fields.pop("name", "job")), **fields)
    job.job_code_object = JobCallable(print, "hello")
    job.save()
    return job


def office_job(**fields: object) -> Job:
    """Every weekday at 07:00 New York time, except US holidays."""
    return make(
        name="office",
        timezone="America/New_York",
        weekly_days_list=WEEKDAYS,
        weekly_time=time(7),
        holidays="US",
        **fields,
    )


def local_dates(times: list[datetime]) -> list[date]:
    return [t.astimezone(NEW_YORK).date() for t in times]


def test_us_holidays_are_not_run_on(clock: None) -> None:
    job = office_job()
    got = local_dates(job.upcoming(8))
    # 1 January and 18 January 2027 (Martin Luther King Jr. Day) are US holidays.
    assert date(2027, 1, 1) not in got
    assert got[:4] == [date(2026, 12, 29), date(2026, 12, 30), date(2026, 12, 31), date(2027, 1, 4)]
    later = local_dates(job.upcoming(5, after=datetime(2027, 1, 15, 13, tzinfo=UTC)))
    assert later[:2] == [date(2027, 1, 19), date(2027, 1, 20)]
    assert "not on US holidays" in job.describe()


def test_business_days_only_is_weekdays_without_holidays(clock: None) -> None:
    job = make(
        timezone="America/New_York",
        run_every=timedelta(days=1),
        _last_interval=datetime(2026, 12, 1, 12, tzinfo=UTC),  # 07:00 in New York
        business_days_only=True,
        holidays="US",
    )
    got = local_dates(job.upcoming(5))
    assert got == [
        date(2026, 12, 29),
        date(2026, 12, 30),
        date(2026, 12, 31),
        date(2027, 1, 4),
        date(2027, 1, 5),
    ]
    assert "business days only" in job.describe()


def test_subdivisions_have_their_own_holidays() -> None:
    bavaria = holiday_calendar("de-by", 2027)
    berlin = holiday_calendar("DE-BE", 2027)
    assert bavaria.name == "DE-BY"
    assert date(2027, 1, 6) in bavaria.dates  # Epiphany: Bavaria, not Berlin
    assert date(2027, 1, 6) not in berlin.dates
    assert date(2037, 12, 25) in bavaria.dates  # ten years ahead
    assert holiday_calendar("DE-BY", 2027) is bavaria  # looked up once


def test_exclude_dates_list(clock: None) -> None:
    job = make(weekly_days_list=WEEKDAYS, weekly_time=time(7))
    job.exclude_dates_list = [date(2026, 12, 30), date(2026, 12, 29), date(2026, 12, 29)]
    job.save()
    fresh = Job.objects.get(pk=job.pk)
    assert fresh.exclude_dates == "2026-12-29, 2026-12-30"
    assert fresh.exclude_dates_list == [date(2026, 12, 29), date(2026, 12, 30)]
    assert [t.date() for t in fresh.upcoming(2)] == [date(2026, 12, 31), date(2027, 1, 1)]
    for bad in ("2026-12-29", [datetime(2026, 12, 29, tzinfo=UTC)], ["2026-12-29"]):
        with pytest.raises(ValidationError) as info:
            fresh.exclude_dates_list = bad
        assert "exclude_dates" in info.value.message_dict


def test_month_positions(clock: None) -> None:
    job = make(month_positions="L, mon#1, FRIL, L-2", monthly_time=time(9))
    got = [t.date() for t in job.upcoming(5)]
    assert got == [
        date(2026, 12, 29),  # 2 days before the last
        date(2026, 12, 31),  # the last day
        date(2027, 1, 4),  # the first Monday
        date(2027, 1, 29),  # 2 days before the last, and the last Friday
        date(2027, 1, 31),
    ]
    assert "the first Monday" in job.describe()
    assert parse_positions("L, L-3, SUN#5, satl") == (
        frozenset({0, 3}),
        frozenset({(1, 5), (7, -1)}),
    )


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        ({"month_positions": "L-0", "monthly_time": time(9)}, "month_positions", "L-0"),
        ({"month_positions": "FRI#9", "monthly_time": time(9)}, "month_positions", "FRI#9"),
        ({"month_positions": "L"}, "monthly_time", "monthly_time is required"),
        ({"monthly_time": time(9)}, "monthly_days", "monthly_days or month_positions"),
        ({"exclude_dates": "tomorrow"}, "exclude_dates", "'tomorrow' is not a date"),
        ({"holidays": "US-XX"}, "holidays", "subdivision XX of US"),
        ({"jitter": timedelta(days=2)}, "jitter", "from 0 to 1 day"),
        ({"jitter": timedelta(milliseconds=1)}, "jitter", "whole number of seconds"),
    ],
)
def test_bad_values_are_refused_naming_the_field(
    clock: None, fields: dict, field: str, words: str
) -> None:
    job = Job(name="bad", run_every=timedelta(hours=1), **fields)
    job.job_code_object = JobCallable(print, "hello")
    with pytest.raises(ValidationError) as info:
        job.save()
    assert words in " ".join(info.value.message_dict[field])
    assert not Job.objects.exists()


def test_holidays_without_the_package_name_the_extra(clock: None, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from akjob import calendars

    calendars._calendar.cache_clear()
    monkeypatch.setitem(sys.modules, "holidays", None)  # import fails
    job = Job(name="x", run_every=timedelta(hours=1), holidays="FR")
    job.job_code_object = JobCallable(print, "hello")
    with pytest.raises(ValidationError) as info:
        job.save()
    assert "pip install 'akjob[holidays]'" in info.value.message_dict["holidays"][0]
    calendars._calendar.cache_clear()


def test_jitter_is_fixed_per_job_and_occurrence(clock: None) -> None:
    first = office_job(jitter=timedelta(minutes=10))
    second = office_job(jitter=timedelta(minutes=10))
    plain = office_job()
    times = first.upcoming(10)
    assert Job.objects.get(pk=first.pk).upcoming(10) == times  # every reader agrees
    assert times != second.upcoming(10)
    # Now is 07:00 in New York, today's run time: moved, it is still to come.
    nominals = plain.upcoming(10, after=NOW - timedelta(seconds=1))
    for moved, nominal in zip(times, nominals, strict=True):
        assert timedelta(0) <= moved - nominal <= timedelta(minutes=10)
    schedule = to_schedule(first, now=NOW)
    assert schedule.seed == str(first.pk)
    assert engine.upcoming(schedule, after=NOW, count=10) == times
    assert first._next_run == times[0]  # what akjobd waits for
    assert "each moved by up to 10 minutes (jitter)" in first.describe()


def test_showinfo_shows_the_fields_and_the_real_next_times(clock: None) -> None:
    job = office_job(
        jitter=timedelta(minutes=10),
        business_days_only=True,
        exclude_dates="2026-12-31",
    )
    out = io.StringIO()
    call_command("akjobd", "showinfo", str(job.pk), stdout=out)
    text = out.getvalue()
    for words in (
        "business days only",
        "not on US holidays",
        "not on 2026-12-31",
        "each moved by up to 10 minutes (jitter)",
        "jitter",
        "exclude_dates",
    ):
        assert words in text
    shown = [line.strip() for line in text.splitlines() if line.startswith("  2026-")]
    shown += [line.strip() for line in text.splitlines() if line.startswith("  2027-")]
    assert len(shown) == 10
    expected = [t.astimezone(NEW_YORK) for t in job.upcoming(10)]
    assert [s.split(" America")[0] for s in shown] == [str(t) for t in expected]
