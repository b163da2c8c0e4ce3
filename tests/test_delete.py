"""Deleting jobs: whole querysets, single instances and the admin's bulk action delete every kind
of job, and no job is rescheduled while its related rows go (docs/api.md). These tests run on the
suite's database, so the PostgreSQL and MariaDB passes run them too."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
from django.db import models, transaction
from django.db.models.signals import pre_delete
from django.urls import reverse

from akjob import signals
from akjob.models import Job, JobCallable, JobDates, JobRun

pytestmark = pytest.mark.django_db

NOW = datetime(2027, 6, 7, 9, 0, 0, tzinfo=UTC)  # a Monday
LATER = [NOW + timedelta(days=3, hours=2), NOW + timedelta(days=40)]
LIMITS: dict[str, Any] = {
    "run_count_limit": 5,
    "active_time_begin": time(0, 30),
    "active_time_end": time(20, 0),
    "active_weekly_days_list": [2, 3, 4, 5, 6],
    "active_monthly_days_list": list(range(1, 29)),
    "active_months_list": [1, 6, 7, 12],
    "active_date_begin": date(2027, 1, 1),
    "active_date_end": date(2030, 12, 31),
}
SOURCES: dict[str, dict[str, Any]] = {
    "interval": {"run_every": timedelta(minutes=15)},
    "dates": {"dates_list": LATER},
    "monthly": {"monthly_time": time(1, 0), "monthly_days_list": [1, 15]},
    "weekly": {"weekly_time": time(6, 0), "weekly_days_list": [2, 6]},
    "cron": {"cron": "*/5 * * * *"},
}
KINDS: dict[str, dict[str, Any]] = {
    **SOURCES,
    **{f"{kind} with limits": {**values, **LIMITS} for kind, values in SOURCES.items()},
    "weekly with dates": {**SOURCES["weekly"], "dates_list": LATER},
    "monthly with dates": {**SOURCES["monthly"], "dates_list": LATER},
    "every source and every limit": {
        kind: value for values in SOURCES.values() for kind, value in values.items()
    }
    | LIMITS,
}


@pytest.fixture(autouse=True)
def clock(time_machine: Any) -> None:
    time_machine.move_to(NOW, tick=False)


def make(kind: str, name: str | None = None) -> Job:
    """A saved job of ``kind``, with code and a run record."""
    job = Job(name=name or kind, **KINDS[kind])
    job.job_code_object = JobCallable("builtins.print", kind)
    job.save()
    assert job._next_run is not None
    JobRun.objects.create(job=job, job_name=job.name, scheduled=NOW, status="succeeded")
    return job


def gone(*jobs: Job) -> None:
    ids = [job.pk for job in jobs]
    assert not Job.objects.filter(pk__in=ids).exists()
    assert not JobDates.objects.filter(job_id__in=ids).exists()
    for field in ("monthly_days", "weekly_days", "active_monthly_days", "active_weekly_days"):
        through = getattr(Job, field).through
        assert not through.objects.filter(job_id__in=ids).exists(), field
    assert not Job.active_months.through.objects.filter(job_id__in=ids).exists()
    assert JobRun.objects.filter(job__isnull=True).count() >= len(jobs)  # history is kept


@pytest.mark.parametrize("kind", KINDS)
def test_a_queryset_delete_deletes_every_kind_of_job(kind: str) -> None:
    job, other = make(kind), make("interval", "kept")
    deleted, counts = Job.objects.filter(pk=job.pk).delete()
    assert counts["akjob.Job"] == 1
    gone(job)
    assert Job.objects.filter(pk=other.pk).exists()


@pytest.mark.parametrize("kind", KINDS)
def test_an_instance_delete_deletes_every_kind_of_job(kind: str) -> None:
    job = make(kind)
    Job.objects.get(pk=job.pk).delete()
    gone(job)


def test_a_queryset_delete_of_all_kinds_at_once() -> None:
    jobs = [make(kind) for kind in KINDS]
    Job.objects.all().delete()
    gone(*jobs)


def test_a_day_tables_related_manager_deletes_its_jobs() -> None:
    from akjob.models import DayOfWeek

    job = make("weekly with dates")
    DayOfWeek.objects.get(day=2).weekly_jobs.all().delete()
    gone(job)


def test_a_plain_queryset_delete_does_not_reschedule_either() -> None:
    """A delete that bypasses Job's queryset (the base manager, a bare QuerySet) still knows the
    dates go with their job."""
    job = make("weekly with dates")
    models.QuerySet(model=Job).filter(pk=job.pk).delete()
    gone(job)


@pytest.fixture
def receiver() -> Iterator[Callable[[Callable[..., None]], None]]:
    """Connect a pre_delete receiver on Job for the test, as a project might."""
    connected: list[Callable[..., None]] = []

    def connect(function: Callable[..., None]) -> None:
        pre_delete.connect(function, sender=Job, weak=False)
        connected.append(function)

    yield connect
    for function in connected:
        pre_delete.disconnect(function, sender=Job)


def test_related_rows_changed_by_a_receiver_during_the_delete_reschedule_nothing(
    receiver: Callable[[Callable[..., None]], None],
) -> None:
    def clear_days(sender: Any, instance: Job, **kwargs: Any) -> None:
        instance.weekly_days.clear()  # m2m_changed on a job being deleted
        instance.dates.all().delete()  # post_delete of its dates, from another origin

    receiver(clear_days)
    first, second = make("weekly with dates"), make("weekly")
    Job.objects.filter(pk__in=[first.pk, second.pk]).delete()
    gone(first, second)
    third = make("weekly")
    third.delete()
    gone(third)


def test_a_failed_delete_leaves_rescheduling_on(
    receiver: Callable[[Callable[..., None]], None],
) -> None:
    def refuse(sender: Any, instance: Job, **kwargs: Any) -> None:
        raise RuntimeError("not today")

    receiver(refuse)
    job = make("weekly")
    with pytest.raises(RuntimeError), transaction.atomic():
        Job.objects.filter(pk=job.pk).delete()
    assert signals._deleting.get() == ()
    job.weekly_days.add(3)  # Tuesday: sooner than Friday
    assert Job.objects.get(pk=job.pk)._next_run == datetime(2027, 6, 8, 6, 0, tzinfo=UTC)


def test_the_admin_bulk_delete_deletes_every_kind_of_job(admin_client: Any) -> None:
    jobs = [make(kind) for kind in KINDS]
    response = admin_client.post(
        reverse("admin:akjob_job_changelist"),
        {
            "action": "delete_selected",
            "_selected_action": [job.pk for job in jobs],
            "post": "yes",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    gone(*jobs)
