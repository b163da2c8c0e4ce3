"""The original README's examples, as written, give the run times docs/schedule.md defines."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta, timezone

import pytest

from akjob.models import Job, JobCallable

pytestmark = pytest.mark.django_db

NOW = datetime(2027, 6, 7, 9, 0, 3, tzinfo=UTC)  # a Monday


def somefunc(*args, **kwargs):
    return args, kwargs


@pytest.fixture
def clock(time_machine):
    time_machine.move_to(NOW, tick=False)
    return NOW


def test_hello_world_every_two_hours(clock):
    myjob_code = JobCallable(print, "Hello", "World")
    myjob = Job()
    myjob.job_code_object = myjob_code
    myjob.name = "Print Hello World"
    myjob.run_every = timedelta(hours=2)
    myjob.save()

    myjob.refresh_from_db()
    assert myjob._last_interval == NOW.replace(microsecond=0)
    assert myjob._next_run == NOW + timedelta(hours=2)
    assert myjob.upcoming(3) == [NOW + timedelta(hours=h) for h in (2, 4, 6)]
    assert myjob.job_code_object == myjob_code


def test_dates_and_dates_list(clock):
    myjob_code = JobCallable(somefunc, "arg1", "arg2", arg3="arg3stuff")
    runtime1 = datetime(2027, 11, 25, 14, 30, tzinfo=UTC)
    runtime2 = datetime(2027, 12, 18, 18, 10, tzinfo=UTC)

    myjob1 = Job.objects.create(name="Job Test 1")
    myjob1.dates.create(job_datetime=runtime1)
    myjob1.dates.create(job_datetime=runtime2)
    myjob1.job_code_object = myjob_code
    myjob1.save()

    myjob2 = Job.objects.create(name="Job Test 2")
    myjob2.dates_list = [runtime1, runtime2]
    myjob2.job_code_object = myjob_code
    myjob2.save()

    for job in (myjob1, myjob2):
        fresh = Job.objects.get(pk=job.pk)
        assert fresh._next_run == runtime1
        assert fresh.dates_list == [runtime1, runtime2]
        assert fresh.upcoming(10) == [runtime1, runtime2]


def test_interval_monthly_weekly(clock):
    myjob_code = JobCallable(somefunc, "arg1", "arg2", arg3="arg3stuff")

    myjob1 = Job.objects.create(name="Interval")
    myjob1.run_every = timedelta(minutes=15)
    myjob1.job_code_object = myjob_code
    myjob1.save()

    myjob2 = Job.objects.create(name="Monthly")
    myjob2.monthly_days_list = [1, 15]
    myjob2.monthly_time = time(1, 30)
    myjob2.job_code_object = myjob_code
    myjob2.save()

    myjob3 = Job.objects.create(name="Weekdays 10PM somefunc")
    myjob3.weekly_days_list = [2, 3, 4, 5, 6]
    myjob3.weekly_time = time(22, 0)
    myjob3.weekly_time_tz_offset_timedelta = timedelta(hours=-7)
    myjob3.job_code_object = myjob_code
    myjob3.save()

    base = NOW.replace(microsecond=0)
    assert Job.objects.get(pk=myjob1.pk).upcoming(2) == [
        base + timedelta(minutes=15),
        base + timedelta(minutes=30),
    ]
    assert Job.objects.get(pk=myjob2.pk).upcoming(3) == [
        datetime(2027, 6, 15, 1, 30, tzinfo=UTC),
        datetime(2027, 7, 1, 1, 30, tzinfo=UTC),
        datetime(2027, 7, 15, 1, 30, tzinfo=UTC),
    ]
    # 22:00 at UTC-7 is 05:00 UTC the next day; Monday 2027-06-07 22:00 -07:00 is the first.
    assert Job.objects.get(pk=myjob3.pk).upcoming(6) == [
        datetime(2027, 6, d, 5, 0, tzinfo=UTC) for d in (8, 9, 10, 11, 12)
    ] + [datetime(2027, 6, 15, 5, 0, tzinfo=UTC)]


def test_limited_interval(clock):
    myjob_code = JobCallable(somefunc, "arg1", "arg2", arg3="arg3stuff")
    myjob1 = Job.objects.create(name="Interval")
    myjob1.run_every = timedelta(minutes=15)
    myjob1.active_time_begin = time(8)
    myjob1.active_time_end = time(16)
    myjob1.active_time_tz_offset_timedelta = timedelta(hours=-7)
    myjob1.active_weekly_days_list = [2, 3, 4, 5, 6]
    myjob1.job_code_object = myjob_code
    myjob1.save()

    job = Job.objects.get(pk=myjob1.pk)
    # Saved Monday 09:00:03 UTC = 02:00:03 at UTC-7: the window opens at 08:00 local (15:00 UTC);
    # the grid is 09:00:03 + k*15 min, so the first point inside is 15:00:03 UTC.
    runs = job.upcoming(40)
    assert runs[0] == datetime(2027, 6, 7, 15, 0, 3, tzinfo=UTC)
    local = timezone(timedelta(hours=-7))
    for run in runs:
        at = run.astimezone(local)
        assert time(8) <= at.time() <= time(16)
        assert at.isoweekday() in (1, 2, 3, 4, 5)
        assert (run - runs[0]) % timedelta(minutes=15) == timedelta(0)
    # 08:00:03 … 15:45:03 local is 32 runs a day; the 33rd is Tuesday's first.
    assert runs[32] == datetime(2027, 6, 8, 15, 0, 3, tzinfo=UTC)
    assert job._next_run == runs[0]


def test_run_count_limit(clock):
    job = Job(name="Limited", run_every=timedelta(minutes=1), run_count_limit=3)
    job.save()
    assert len(job.upcoming(10)) == 3
    Job.objects.filter(pk=job.pk).update(_run_count=3)
    job = Job.objects.get(pk=job.pk)
    assert job.upcoming(10) == []
    assert job.next_run() is None
    assert Job.objects.get(pk=job.pk)._next_run is None
    assert "runs 3/3" in str(job)
