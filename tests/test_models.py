"""The Job model's API (docs/api.md): *_list properties, saves of changed fields, next run times."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from akjob.models import DayOfMonth, DayOfWeek, Job, JobCallable, Months

pytestmark = pytest.mark.django_db

NOW = datetime(2027, 6, 7, 9, 0, 0, tzinfo=UTC)  # a Monday
# Jobs without a code object have no next run: the tests of run times give them one.
CODE = JobCallable(print, "hi")


@pytest.fixture(autouse=True)
def clock(time_machine):
    time_machine.move_to(NOW, tick=False)


def test_day_tables_are_filled_by_the_migration():
    assert list(DayOfMonth.objects.values_list("day", flat=True)) == list(range(1, 32))
    assert list(DayOfWeek.objects.values_list("day", flat=True)) == list(range(1, 8))
    assert list(Months.objects.values_list("month", flat=True)) == list(range(1, 13))
    assert str(DayOfWeek.objects.get(day=1)) == "Sunday"
    assert str(Months.objects.get(month=2)) == "February"


def test_list_properties_on_an_unsaved_job_are_applied_at_save():
    job = Job(name="weekly", weekly_time=time(6, 0), job_code_object=CODE)
    job.weekly_days_list = [6, DayOfWeek.objects.get(day=2), 2]
    assert job.weekly_days_list == [2, 6]
    assert job.pk is None
    job.save()
    fresh = Job.objects.get(pk=job.pk)
    assert fresh.weekly_days_list == [2, 6]
    assert sorted(d.pk for d in fresh.weekly_days.all()) == [2, 6]
    assert fresh._next_run == datetime(2027, 6, 11, 6, 0, tzinfo=UTC)  # Friday


def test_saved_lists_loaded_at_once_for_many_jobs_match_each_job_s_own():
    from akjob import daysets

    first = Job(name="a", weekly_time=time(6, 0), weekly_days_list=[2, 6])
    first.active_months_list = [3, 10]
    first.save()
    second = Job(name="b", dates_list=[NOW + timedelta(days=2), NOW + timedelta(days=1)])
    second.save()
    third = Job.objects.create(name="c", run_every=timedelta(hours=1))
    jobs = list(Job.objects.order_by("pk"))
    with CaptureQueriesContext(connection) as queries:
        daysets.load_saved(jobs)
        loaded = [{p: getattr(job, p) for p in daysets.LIST_PROPERTIES} for job in jobs]
    assert len(queries) == 2  # the day sets together, then the dates, for every job
    own = [{p: getattr(Job.objects.get(pk=j.pk), p) for p in daysets.LIST_PROPERTIES} for j in jobs]
    assert loaded == own
    assert loaded[0]["weekly_days_list"] == [2, 6] and loaded[0]["active_months_list"] == [3, 10]
    assert loaded[1]["dates_list"] == [NOW + timedelta(days=1), NOW + timedelta(days=2)]
    assert all(value == [] for value in loaded[2].values()) and jobs[2].pk == third.pk
    # A database that takes few parameters per statement gets them in chunks: same answers.
    for job in jobs:
        job.__dict__.pop(daysets.LOADED)
    with pytest.MonkeyPatch.context() as patch:
        # (a class attribute, a property or a cached one, depending on the Django version)
        patch.delitem(connection.features.__dict__, "max_query_params", raising=False)
        patch.setattr(
            type(connection.features), "max_query_params", 2 * len(daysets.LIST_PROPERTIES)
        )
        with CaptureQueriesContext(connection) as chunked:
            daysets.load_saved(jobs)
    assert len(chunked) == 4  # two jobs a statement: two chunks of two statements each
    assert [{p: getattr(job, p) for p in daysets.LIST_PROPERTIES} for job in jobs] == own
    # A list assigned and saved is read from the database again, not from what was loaded.
    jobs[0].weekly_days_list = [4]
    jobs[0].save()
    assert jobs[0].weekly_days_list == [4]


def test_list_methods_on_the_returned_list_change_nothing():
    job = Job(name="m", monthly_time=time(1, 0))
    job.monthly_days_list = [1]
    job.save()
    days = job.monthly_days_list
    days.append(15)
    assert job.monthly_days_list == [1]
    assert Job.objects.get(pk=job.pk).monthly_days_list == [1]


def test_manager_changes_reschedule():
    job = Job.objects.create(
        name="m", monthly_time=time(1, 0), monthly_days_list=[1], job_code_object=CODE
    )
    assert job._next_run == datetime(2027, 7, 1, 1, 0, tzinfo=UTC)
    job.monthly_days.add(8)
    assert Job.objects.get(pk=job.pk)._next_run == datetime(2027, 6, 8, 1, 0, tzinfo=UTC)
    job.dates.create(job_datetime=datetime(2027, 6, 7, 12, 0, tzinfo=UTC))
    assert Job.objects.get(pk=job.pk)._next_run == datetime(2027, 6, 7, 12, 0, tzinfo=UTC)
    job.dates.all().delete()
    assert Job.objects.get(pk=job.pk)._next_run == datetime(2027, 6, 8, 1, 0, tzinfo=UTC)


def test_save_writes_only_changed_fields():
    job = Job.objects.create(name="a", run_every=timedelta(minutes=5))
    user_copy = Job.objects.get(pk=job.pk)
    # The daemon counts a run meanwhile.
    Job.objects.filter(pk=job.pk).update(_run_count=7, _last_run=NOW)
    user_copy.name = "renamed"
    with CaptureQueriesContext(connection) as queries:
        user_copy.save()
    updates = [q["sql"] for q in queries if q["sql"].startswith("UPDATE")]
    quoted = connection.ops.quote_name("name")
    assert len(updates) == 1 and quoted in updates[0] and "_run_count" not in updates[0]
    fresh = Job.objects.get(pk=job.pk)
    assert (fresh.name, fresh._run_count, fresh._last_run) == ("renamed", 7, NOW)


def test_unchanged_save_writes_nothing():
    job = Job.objects.create(name="a", run_every=timedelta(minutes=5))
    job = Job.objects.get(pk=job.pk)
    with CaptureQueriesContext(connection) as queries:
        job.save()
    assert not [q for q in queries if q["sql"].startswith(("UPDATE", "INSERT"))]


def test_schedule_edit_reschedules_from_fresh_housekeeping():
    job = Job.objects.create(
        name="a", run_every=timedelta(minutes=5), run_count_limit=10, job_code_object=CODE
    )
    stale = Job.objects.get(pk=job.pk)
    Job.objects.filter(pk=job.pk).update(_run_count=10)
    stale.run_count_limit = 11
    stale.save()
    fresh = Job.objects.get(pk=job.pk)
    assert fresh._run_count == 10
    assert fresh._next_run == NOW + timedelta(minutes=5)
    assert stale.upcoming(5) == [NOW + timedelta(minutes=5)]


def test_disable_clears_next_run_and_enable_restores_it():
    job = Job.objects.create(name="a", run_every=timedelta(minutes=5), job_code_object=CODE)
    job.job_enabled = False
    job.save()
    assert Job.objects.get(pk=job.pk)._next_run is None
    job.job_enabled = True
    job.save()
    assert Job.objects.get(pk=job.pk)._next_run == NOW + timedelta(minutes=5)


def test_interval_anchor_aligns_the_grid():
    job = Job(name="quarter", run_every=timedelta(minutes=15))
    job._last_interval = datetime(2027, 1, 1, tzinfo=UTC)
    job.save()
    assert job.upcoming(3, after=datetime(2027, 6, 7, 9, 7, tzinfo=UTC)) == [
        datetime(2027, 6, 7, 9, 15, tzinfo=UTC),
        datetime(2027, 6, 7, 9, 30, tzinfo=UTC),
        datetime(2027, 6, 7, 9, 45, tzinfo=UTC),
    ]


def test_next_run_on_unsaved_job_does_not_write():
    job = Job(name="x", run_every=timedelta(hours=1), job_code_object=CODE)
    assert job.next_run() == NOW + timedelta(hours=1)
    assert job._next_run == NOW + timedelta(hours=1)
    assert Job.objects.count() == 0


def test_upcoming_never_changes_the_job():
    job = Job.objects.create(name="x", run_every=timedelta(hours=1))
    with CaptureQueriesContext(connection) as queries:
        runs = job.upcoming(5, after=NOW + timedelta(days=1))
    assert not [q for q in queries if not q["sql"].startswith("SELECT")]
    assert runs[0] == NOW + timedelta(days=1, hours=1)
    assert all(r.tzinfo is UTC or r.utcoffset() == timedelta(0) for r in runs)


def test_str_shows_name_run_count_and_next_run():
    job = Job.objects.create(
        name="Report", run_every=timedelta(hours=1), run_count_limit=5, job_code_object=CODE
    )
    assert str(job) == f"Report (id {job.pk}): runs 0/5, next 2027-06-07 10:00:00 UTC"


def test_timezone_job():
    job = Job(
        name="denver", timezone="America/Denver", weekly_time=time(22, 0), job_code_object=CODE
    )
    job.weekly_days_list = [2, 3, 4, 5, 6]
    job.save()
    # Monday 22:00 MDT = Tuesday 04:00 UTC.
    assert job._next_run == datetime(2027, 6, 8, 4, 0, tzinfo=UTC)


def test_cron_job():
    job = Job.objects.create(
        name="cron", cron="30 4 * * 1", timezone="America/Denver", job_code_object=CODE
    )
    # Monday 03:00 MDT now; 04:30 MDT today is 10:30 UTC.
    assert job._next_run == datetime(2027, 6, 7, 10, 30, tzinfo=UTC)


def test_code_object_state_round_trip():
    job = Job.objects.create(name="code")
    job.job_code_object = JobCallable("builtins.print", "hi")
    job.save()
    fresh = Job.objects.get(pk=job.pk)
    assert fresh.job_code_object == JobCallable("builtins.print", "hi")
    assert fresh.job_code_object is fresh.job_code_object


def test_a_job_read_from_a_row_is_the_job_django_would_build():
    """Jobs read whole are built from their rows directly, and the same as Model.__init__
    builds them (which still serves rows with deferred fields and models with init signals)."""
    from django.db.models.signals import post_init

    job = Job(name="row", run_every=timedelta(minutes=5), timeout=timedelta(seconds=30))
    job.job_code_object = JobCallable(print, "hi")
    job.save()
    fast = Job.objects.get(pk=job.pk)
    seen = []

    def listen(sender, instance, **kwargs):
        seen.append(instance)

    post_init.connect(listen, sender=Job)
    try:
        slow = Job.objects.get(pk=job.pk)
    finally:
        post_init.disconnect(listen, sender=Job)
    assert seen == [slow]  # the listener made the read go through Model.__init__
    for field in Job._meta.concrete_fields:
        assert getattr(fast, field.attname) == getattr(slow, field.attname), field.name
    assert (fast._state.adding, fast._state.db) == (False, "default")
    assert fast._changed_fields() == []
    fast.name = "renamed"
    assert fast._changed_fields() == ["name"]
    deferred = Job.objects.only("name").get(pk=job.pk)
    assert deferred.get_deferred_fields() and deferred.timeout == timedelta(seconds=30)
