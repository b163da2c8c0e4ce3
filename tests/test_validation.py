"""Bad input is refused with a ValidationError naming the field and the rule; nothing is written
(docs/api.md, docs/schedule.md)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.test import override_settings

from akjob.models import Job, JobCallable, JobDates

pytestmark = pytest.mark.django_db


def _refused(job: Job, field: str, *words: str) -> None:
    for attempt in (job.full_clean, job.save):
        with pytest.raises(ValidationError) as info:
            attempt()
        assert field in info.value.message_dict, info.value.message_dict
        text = " ".join(info.value.message_dict[field])
        for word in words:
            assert word in text, text
    assert Job.objects.count() == 0


BAD = [
    ("run_every zero", dict(run_every=timedelta(0)), "run_every", ["positive"]),
    ("run_every negative", dict(run_every=timedelta(seconds=-1)), "run_every", ["positive"]),
    ("window begin only", dict(active_time_begin=time(8)), "active_time_end", []),
    ("window end only", dict(active_time_end=time(8)), "active_time_begin", []),
    ("unknown zone", dict(timezone="Mars/Olympus"), "timezone", ["Mars/Olympus"]),
    (
        "offset 25 h",
        dict(monthly_time_tz_offset_timedelta=timedelta(hours=25)),
        "monthly_time_tz_offset_timedelta",
        ["24"],
    ),
    (
        "offset -24 h",
        dict(active_time_tz_offset_timedelta=timedelta(hours=-24)),
        "active_time_tz_offset_timedelta",
        ["24"],
    ),
    (
        "offset with zone",
        dict(timezone="America/Denver", weekly_time_tz_offset_timedelta=timedelta(hours=-7)),
        "weekly_time_tz_offset_timedelta",
        ["timezone"],
    ),
    ("bad cron", dict(cron="61 * * * *"), "cron", ["minute 61 is outside 0–59"]),
    ("cron fields", dict(cron="* * *"), "cron", []),
    ("monthly time without days", dict(monthly_time=time(1)), "monthly_days", ["monthly_time"]),
    ("weekly time without days", dict(weekly_time=time(1)), "weekly_days", ["weekly_time"]),
    ("timeout zero", dict(timeout=timedelta(0)), "timeout", ["longer than zero"]),
    ("timeout negative", dict(timeout=timedelta(seconds=-5)), "timeout", ["longer than zero"]),
    ("grace zero", dict(misfire_grace=timedelta(0)), "misfire_grace", ["longer than zero"]),
    (
        "grace negative",
        dict(misfire_grace=timedelta(minutes=-1)),
        "misfire_grace",
        ["longer than zero"],
    ),
    ("timeout too long", dict(timeout=timedelta(days=999_999_999)), "timeout", ["36500"]),
    (
        "grace too long",
        dict(misfire_grace=timedelta(days=36501)),
        "misfire_grace",
        ["at most 36500 days"],
    ),
    ("run_every too long", dict(run_every=timedelta(days=999_999_999)), "run_every", ["36500"]),
]


@pytest.mark.parametrize("fields,field,words", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_field_values(fields, field, words):
    _refused(Job(name="bad", **fields), field, *words)


@pytest.mark.parametrize(
    "prop,field,value",
    [
        ("weekly_days_list", "weekly_days", 0),
        ("weekly_days_list", "weekly_days", 8),
        ("monthly_days_list", "monthly_days", 0),
        ("monthly_days_list", "monthly_days", 32),
        ("active_months_list", "active_months", 13),
        ("active_weekly_days_list", "active_weekly_days", 8),
        ("active_monthly_days_list", "active_monthly_days", 32),
        ("monthly_days_list", "monthly_days", "3"),
    ],
)
def test_bad_list_values_refused_at_assignment(prop, field, value):
    job = Job(name="bad")
    with pytest.raises(ValidationError) as info:
        setattr(job, prop, [1, value])
    assert field in info.value.message_dict
    assert str(value) in info.value.message_dict[field][0]
    assert getattr(job, prop) == []


def test_days_without_time():
    job = Job(name="bad")
    job.weekly_days_list = [2]
    _refused(job, "weekly_time", "weekly_days")


def test_naive_datetime_refused_with_use_tz():
    job = Job(name="bad")
    with pytest.raises(ValidationError) as info:
        job.dates_list = [datetime(2027, 1, 1, 12, 0)]
    assert "naive" in info.value.message_dict["dates"][0]
    saved = Job.objects.create(name="ok")
    with pytest.raises(ValidationError):
        saved.dates.create(job_datetime=datetime(2027, 1, 1, 12, 0))
    assert JobDates.objects.count() == 0


def test_refused_edit_leaves_row_unchanged():
    job = Job.objects.create(name="ok", run_every=timedelta(minutes=5))
    job.run_every = timedelta(0)
    job.name = "changed"
    with pytest.raises(ValidationError):
        job.save()
    fresh = Job.objects.get(pk=job.pk)
    assert (fresh.name, fresh.run_every) == ("ok", timedelta(minutes=5))


def test_refused_list_on_saved_job_leaves_days_unchanged():
    job = Job.objects.create(name="ok", weekly_time=time(1), weekly_days_list=[2])
    with pytest.raises(ValidationError):
        job.weekly_days_list = [9]
    assert Job.objects.get(pk=job.pk).weekly_days_list == [2]


@override_settings(USE_TZ=False, TIME_ZONE="Europe/London")
def test_naive_datetimes_without_use_tz_are_local_time():
    job = Job(name="london", job_code_object=JobCallable(print, "hi"))
    job.dates_list = [datetime(2027, 7, 1, 12, 0)]
    job.save()
    # 12:00 BST is 11:00 UTC; stored naive in local time.
    assert job.upcoming(1, after=datetime(2027, 6, 1, tzinfo=UTC)) == [
        datetime(2027, 7, 1, 11, 0, tzinfo=UTC)
    ]
    assert Job.objects.get(pk=job.pk)._next_run == datetime(2027, 7, 1, 12, 0)


def test_date_range_types():
    _refused(Job(name="bad", active_date_begin="tomorrow"), "active_date_begin")
    job = Job(name="ok", run_every=timedelta(hours=1), active_date_begin=date(2027, 1, 1))
    job.full_clean()


def test_durations_at_their_limits_are_accepted():
    job = Job(
        name="ok",
        run_every=timedelta(days=36500),
        timeout=timedelta(microseconds=1),
        misfire_grace=timedelta(days=36500),
    )
    job.save()
    fresh = Job.objects.get(pk=job.pk)
    assert (fresh.run_every, fresh.timeout) == (timedelta(days=36500), timedelta(microseconds=1))


def test_a_refused_timeout_on_a_saved_job_changes_nothing():
    job = Job.objects.create(name="ok", run_every=timedelta(minutes=5), timeout=timedelta(1))
    job.timeout = timedelta(seconds=-1)
    with pytest.raises(ValidationError) as info:
        job.save()
    assert list(info.value.message_dict) == ["timeout"]
    assert Job.objects.get(pk=job.pk).timeout == timedelta(1)
