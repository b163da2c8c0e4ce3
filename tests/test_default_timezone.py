"""``AKJOB_DEFAULT_TIMEZONE``: the zone of jobs whose ``timezone`` is empty."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from django.core import checks
from django.test import override_settings

from akjob import checks as akjob_checks
from akjob.conf import akjob_settings
from akjob.jobschedule import job_zone
from akjob.models import Job, JobCallable

pytestmark = pytest.mark.django_db

NOW = datetime(2027, 6, 7, 9, 0, 0, tzinfo=UTC)  # a Monday; Paris is at +02:00


@pytest.fixture(autouse=True)
def clock(time_machine) -> None:  # type: ignore[no-untyped-def]
    time_machine.move_to(NOW, tick=False)


def weekly(**fields: object) -> Job:
    job = Job(name="w", weekly_time=time(12, 0), job_code_object=JobCallable(print), **fields)
    job.weekly_days_list = [2]  # Monday
    job.save()
    return Job.objects.get(pk=job.pk)


def test_utc_by_default_as_in_the_original() -> None:
    assert weekly()._next_run == datetime(2027, 6, 7, 12, 0, tzinfo=UTC)
    assert akjob_settings.default_timezone is UTC


@override_settings(AKJOB_DEFAULT_TIMEZONE="Europe/Paris")
def test_an_iana_name() -> None:
    job = weekly()
    assert job._next_run == datetime(2027, 6, 7, 10, 0, tzinfo=UTC)  # 12:00 CEST
    assert job.describe() == "Mon at 12:00 Europe/Paris"
    assert str(job_zone(job)) == "Europe/Paris"


@override_settings(AKJOB_DEFAULT_TIMEZONE="TIME_ZONE", TIME_ZONE="America/Denver")
def test_time_zone_means_django_s_setting() -> None:
    assert weekly()._next_run == datetime(2027, 6, 7, 18, 0, tzinfo=UTC)  # 12:00 MDT


@override_settings(AKJOB_DEFAULT_TIMEZONE="Europe/Paris")
def test_the_job_s_own_zone_and_offsets_still_win() -> None:
    assert weekly(timezone="UTC")._next_run == datetime(2027, 6, 7, 12, 0, tzinfo=UTC)
    offset = weekly(weekly_time_tz_offset_timedelta=timedelta(hours=-7))
    assert offset._next_run == datetime(2027, 6, 7, 19, 0, tzinfo=UTC)


@override_settings(AKJOB_DEFAULT_TIMEZONE="Europe/Paris")
def test_cron_and_limits_are_read_in_it() -> None:
    job = Job(name="c", cron="0 12 * * *", job_code_object=JobCallable(print))
    job.active_time_begin, job.active_time_end = time(11), time(13)
    job.save()
    assert Job.objects.get(pk=job.pk)._next_run == datetime(2027, 6, 7, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize("value", ["Mars/Olympus", "", 7, "../etc/passwd"])
def test_e004_a_bad_value(value: object) -> None:
    with override_settings(AKJOB_DEFAULT_TIMEZONE=value):
        messages = akjob_checks.check_default_timezone()
    assert [m.id for m in messages] == ["akjob.E004"]
    assert messages[0].level == checks.ERROR


@pytest.mark.parametrize("value", ["UTC", "TIME_ZONE", "Asia/Kathmandu"])
def test_good_values_pass(value: str) -> None:
    with override_settings(AKJOB_DEFAULT_TIMEZONE=value):
        assert akjob_checks.check_default_timezone() == []
