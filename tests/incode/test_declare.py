"""Declaring schedules in code: the options read into job fields, and the checks that report a
bad declaration by its function and option without ever raising at declaration."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

import akjob
from akjob import declare, durations, registry
from akjob.checks import check_declarations
from tests.incode import funcs

pytestmark = pytest.mark.django_db

POLL = "tests.incode.funcs.poll"
REPORT = "tests.incode.funcs.report"


def only() -> declare.Declaration:
    valid, invalid = declare.collect(discover_modules=False)
    assert invalid == [], invalid
    (declaration,) = valid
    return declaration


def test_the_issue_examples_read_into_job_fields() -> None:
    akjob.scheduled(cron="30 6 * * 1-5", timezone="America/New_York", timeout="10m")(funcs.poll)
    d = only()
    assert d.key == POLL and d.path == POLL and d.fields["name"] == POLL
    assert d.fields["cron"] == "30 6 * * 1-5"
    assert d.fields["timezone"] == "America/New_York"
    assert d.fields["timeout"] == timedelta(minutes=10)
    assert d.enabled is True


def test_every_attribute_and_limit_of_the_model() -> None:
    when = datetime(2027, 7, 1, 9, 0, tzinfo=UTC)
    akjob.scheduled(
        key="weekly-report",
        name="Weekly report",
        every="1h30m",
        weekly_days=[2, 4],
        weekly_time="07:15",
        monthly_days=[1, 15],
        monthly_time=time(6, 0),
        dates=[when, "2027-08-01T10:00:00+00:00"],
        run_count_limit=10,
        active_time=("08:00", "18:00"),
        active_weekly_days=[2, 3, 4, 5, 6],
        active_monthly_days=[1, 2, 3],
        active_months=[1, 6, 12],
        active_dates=("2027-01-01", date(2027, 12, 31)),
        weekly_time_tz_offset_timedelta="-7h",
        monthly_time_tz_offset_timedelta=timedelta(hours=2),
        active_time_tz_offset_timedelta=3600,
        misfire_grace="5m",
        timeout=90,
        enabled=False,
        args=["weekly"],
        kwargs={"to": "sales"},
    )(funcs.report)
    d = only()
    assert d.key == "weekly-report"
    assert d.fields["name"] == "Weekly report"
    assert d.fields["run_every"] == timedelta(hours=1, minutes=30)
    assert d.fields["weekly_time"] == time(7, 15)
    assert d.fields["monthly_time"] == time(6, 0)
    assert d.lists["weekly_days"] == (2, 4) and d.lists["monthly_days"] == (1, 15)
    assert d.lists["active_weekly_days"] == (2, 3, 4, 5, 6)
    assert d.lists["active_monthly_days"] == (1, 2, 3)
    assert d.lists["active_months"] == (1, 6, 12)
    assert d.dates == (when, datetime(2027, 8, 1, 10, 0, tzinfo=UTC))
    assert d.fields["run_count_limit"] == 10
    assert (d.fields["active_time_begin"], d.fields["active_time_end"]) == (time(8), time(18))
    assert d.fields["active_date_begin"] == date(2027, 1, 1)
    assert d.fields["active_date_end"] == date(2027, 12, 31)
    assert d.fields["weekly_time_tz_offset_timedelta"] == timedelta(hours=-7)
    assert d.fields["active_time_tz_offset_timedelta"] == timedelta(hours=1)
    assert d.fields["misfire_grace"] == timedelta(minutes=5)
    assert d.fields["timeout"] == timedelta(seconds=90)
    assert d.enabled is False
    assert repr(d.code()) == "JobCallable(tests.incode.funcs.report, 'weekly', to='sales')"


def test_the_policies_calendars_and_expectations_of_the_model() -> None:
    akjob.scheduled(
        month_positions="MON#1",
        monthly_time="07:00",
        exclude_dates=["2027-12-24", date(2027, 12, 31)],
        holidays="",
        business_days_only=True,
        jitter="30s",
        catch_up="none",
        alert_after="2h",
        timezone="America/New_York",
        every="15m",
        first_run_at="2027-01-04T08:00:00-05:00",
    )(funcs.poll)
    d = only()
    assert d.fields["month_positions"] == "MON#1"
    assert d.fields["exclude_dates"] == "2027-12-24, 2027-12-31"
    assert d.fields["business_days_only"] is True
    assert d.fields["jitter"] == timedelta(seconds=30)
    assert d.fields["catch_up"] == "none"
    assert d.fields["alert_after"] == timedelta(hours=2)
    assert d.fields["first_run_at"] == datetime(2027, 1, 4, 13, 0, tzinfo=UTC)
    job = declare.unsaved_job(d)
    assert job.exclude_dates_list == [date(2027, 12, 24), date(2027, 12, 31)]


def test_the_setting_declares_functions_one_cannot_decorate(settings) -> None:
    settings.AKJOB_SCHEDULES = {"nightly-cleanup": {"function": POLL, "cron": "0 3 * * *"}}
    d = only()
    assert (d.key, d.path, d.fields["cron"]) == ("nightly-cleanup", POLL, "0 3 * * *")
    assert d.origin == "AKJOB_SCHEDULES['nightly-cleanup']"


def test_a_decorated_function_joins_the_job_function_registry() -> None:
    assert registry.get(POLL) is None
    returned = akjob.scheduled(every="15m", name="Poll the warehouse")(funcs.poll)
    assert returned is funcs.poll
    assert registry.get(POLL).label == "Poll the warehouse"


@pytest.mark.parametrize(
    ("options", "field", "words"),
    [
        ({"every": "soon"}, "every", "not a duration"),
        ({"cron": "61 * * * *"}, "cron", ""),
        ({"cron": "0 3 * * *", "timezone": "Mars/Olympus"}, "timezone", "not a known"),
        ({"cron": "0 3 * * *", "timeout": "-5m"}, "timeout", ""),
        ({"cron": "0 3 * * *", "active_time": "08:00"}, "active_time", "pair"),
        ({"cron": "0 3 * * *", "run_count_limit": "3"}, "run_count_limit", "whole number"),
        ({"cron": "0 3 * * *", "colour": "red"}, "colour", "unknown option"),
        ({"weekly_days": [2]}, "weekly_time", "required"),
        ({}, "cron", "no source"),
        ({"cron": "0 3 * * *", "args": [1, 2, 3]}, "args", "do not fit"),
        ({"cron": "0 3 * * *", "enabled": "yes"}, "enabled", "True or False"),
        ({"cron": "0 3 * * *", "catch_up": "sometimes"}, "catch_up", "not a valid choice"),
        ({"cron": "0 3 * * *", "jitter": "2d"}, "jitter", "1 day"),
        ({"cron": "0 3 * * *", "exclude_dates": ["2027-02-30"]}, "exclude_dates", "not a date"),
        ({"cron": "0 3 * * *", "exclude_dates": "tomorrow"}, "exclude_dates", ""),
        ({"cron": "0 3 * * *", "business_days_only": "yes"}, "business_days_only", "True"),
        ({"month_positions": "L"}, "monthly_time", ""),
        ({"cron": "0 3 * * *", "alert_after": "-1h"}, "alert_after", ""),
        ({"every": "15m", "first_run_at": "2027-01-04T08:00"}, "first_run_at", "aware"),
    ],
)
def test_a_bad_declaration_names_the_function_and_the_field(options, field, words) -> None:
    akjob.scheduled(**options)(funcs.poll)  # never raises
    (error,) = check_declarations()
    assert error.id == "akjob.E005"
    assert POLL in error.msg
    assert f"{field}:" in error.msg
    assert words in error.msg


def test_manage_py_check_fails_on_a_bad_declaration(settings) -> None:
    settings.AKJOB_SCHEDULES = {"broken": {"function": "tests.incode.funcs.gone", "every": "1m"}}
    with pytest.raises(SystemCheckError, match=r"AKJOB_SCHEDULES\['broken'\].*function: .*gone"):
        call_command("check")


def test_a_key_declared_twice_is_refused_in_both_places() -> None:
    akjob.scheduled(key="same", every="1m")(funcs.poll)
    akjob.scheduled(key="same", every="2m")(funcs.cleanup)
    valid, invalid = declare.collect(discover_modules=False)
    assert valid == []
    assert {i.origin for i in invalid} == {POLL, "tests.incode.funcs.cleanup"}


def test_what_cannot_be_imported_by_path_is_reported() -> None:
    def local() -> None: ...

    akjob.scheduled(every="1m")(local)
    (error,) = check_declarations()
    assert "function:" in error.msg and "module-level" in error.msg


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", timedelta(seconds=90)),
        ("15m", timedelta(minutes=15)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("2d", timedelta(days=2)),
        ("1w", timedelta(weeks=1)),
        ("1.5h", timedelta(minutes=90)),
        (45, timedelta(seconds=45)),
    ],
)
def test_durations(text, expected) -> None:
    assert durations.parse(text) == expected


@pytest.mark.parametrize("text", ["", "-", "m", "15", "15x", "1h 30", "--5m", True, None])
def test_bad_durations(text) -> None:
    with pytest.raises((ValueError, TypeError)):
        durations.parse(text)


def test_a_jobs_module_that_fails_to_import_is_reported(monkeypatch) -> None:
    def broken(*modules: str) -> None:
        raise ImportError("No module named 'reportlab'")

    monkeypatch.setattr(declare, "autodiscover_modules", broken)
    (error,) = check_declarations()
    assert error.id == "akjob.E005" and "reportlab" in error.msg


def test_a_bad_removal_policy_is_a_settings_error(settings) -> None:
    from akjob.checks import check_settings

    settings.AKJOB_SYNC_REMOVED = "archive"
    (error,) = check_settings()
    assert error.id == "akjob.E001" and "AKJOB_SYNC_REMOVED" in error.msg
