"""How akjobd reads its due jobs (:func:`akjob.daemon.store.read_jobs`): the same jobs, field for
field and type for type, as iterating the query through the ORM gives, on the database the suite
runs on."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from django.db import transaction
from django.db.models.signals import post_init

from akjob.daemon import store
from akjob.models import Job, JobCallable

pytestmark = pytest.mark.django_db

T0 = datetime(2027, 3, 28, 0, 59, 59, 999999, tzinfo=UTC)


def every_field_set() -> Job:
    """A job whose every column holds a value (as one might after years of edits), written
    straight to its row: the read, not the validation, is under test."""
    job = Job(name="full", run_every=timedelta(minutes=5))
    job.job_code_object = JobCallable(print, "hi")
    job.save()
    Job.objects.filter(pk=job.pk).update(
        first_run_at=T0,
        monthly_time=time(1, 30, 15),
        monthly_time_tz_offset_timedelta=timedelta(hours=-7),
        weekly_time=time(23, 59, 59, 500),
        weekly_time_tz_offset_timedelta=timedelta(minutes=345),
        month_positions="1,-1",
        cron="*/10 7-18 * * 1-5",
        timezone="Australia/Lord_Howe",
        run_count_limit=100,
        active_time_begin=time(8),
        active_time_end=time(16, 0, 0, 1),
        active_time_tz_offset_timedelta=timedelta(hours=2),
        active_date_begin=date(2027, 1, 1),
        active_date_end=date(2027, 12, 31),
        exclude_dates="2027-12-25",
        business_days_only=True,
        jitter=timedelta(microseconds=1),
        deleteme=False,
        misfire_grace=timedelta(days=7),
        timeout=timedelta(seconds=30, microseconds=250),
        overlap="queue",
        max_instances=3,
        retries=2,
        retry_backoff=timedelta(seconds=10),
        retry_backoff_factor=1.5,
        retry_backoff_max=timedelta(hours=1),
        alert_after=timedelta(minutes=1),
        _run_count=7,
        _last_run=T0 - timedelta(minutes=5),
        _next_run=T0,
        _last_interval=T0 - timedelta(minutes=5),
        _overdue_since=T0,
        _failing_since=T0 + timedelta(microseconds=1),
        code_key="app.jobs.full",
        code_declaration="{}",
        code_removed=T0,
    )
    return job


def empty_fields() -> Job:
    """A job with every nullable column NULL but its next run."""
    job = Job.objects.create(name="bare")
    Job.objects.filter(pk=job.pk).update(_next_run=T0 + timedelta(seconds=1), job_enabled=True)
    return job


def due() -> object:
    return Job.objects.due(T0 + timedelta(seconds=1)).order_by("_next_run", "pk")


def assert_same(read: list[Job], orm: list[Job]) -> None:
    assert [job.pk for job in read] == [job.pk for job in orm]
    for fast, slow in zip(read, orm, strict=True):
        for field in Job._meta.concrete_fields:
            mine, theirs = getattr(fast, field.attname), getattr(slow, field.attname)
            assert mine == theirs, field.attname
            assert type(mine) is type(theirs), field.attname
            if isinstance(mine, datetime):
                assert mine.utcoffset() == timedelta(0), field.attname
        assert (fast._state.adding, fast._state.db) == (False, slow._state.db)
        assert fast._changed_fields() == []


def test_due_jobs_are_read_as_the_orm_reads_them():
    every_field_set()
    empty_fields()
    read, orm = store.read_jobs(due()), list(due())
    assert len(read) == 2
    assert_same(read, orm)
    assert read[0].timeout == timedelta(seconds=30, microseconds=250)
    assert read[0]._next_run == T0  # microseconds kept


def test_a_job_read_saves_only_what_changes_after():
    job = Job(name="plain", run_every=timedelta(minutes=5), timeout=timedelta(seconds=30))
    job.job_code_object = JobCallable(print, "hi")
    job.save()
    Job.objects.filter(pk=job.pk).update(_next_run=T0)
    (read,) = store.read_jobs(due())
    read.name = "renamed"
    assert read._changed_fields() == ["name"]
    read.save()
    job.refresh_from_db()
    assert job.name == "renamed" and job._next_run is not None


def test_rows_locked_as_they_are_read_where_the_database_can():
    every_field_set()
    with transaction.atomic():
        query = due()
        if store.can_skip_locked():
            query = query.select_for_update(skip_locked=True)
        assert_same(store.read_jobs(query), list(due()))


def test_nothing_due_reads_nothing():
    every_field_set()
    assert store.read_jobs(Job.objects.none()) == []
    assert store.read_jobs(Job.objects.due(T0 - timedelta(days=1))) == []


def test_a_query_with_more_than_the_job_s_columns_is_iterated_as_usual():
    every_field_set()
    read = store.read_jobs(due().with_running())
    assert read[0].running_since is None
    assert_same(read, list(due()))


def test_with_init_signal_listeners_each_job_goes_through_the_model_s_init():
    every_field_set()
    empty_fields()
    seen = []

    def listen(sender, instance, **kwargs):
        seen.append(instance.pk)

    post_init.connect(listen, sender=Job)
    try:
        read = store.read_jobs(due())
    finally:
        post_init.disconnect(listen, sender=Job)
    assert seen == [job.pk for job in read]
    assert_same(read, list(due()))
