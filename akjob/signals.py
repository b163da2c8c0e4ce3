"""Django signals akjob sends, and the receivers that keep ``_next_run`` current.

``run_started`` and ``run_finished`` are sent by akjobd (in the daemon process) with
``sender=Job`` and ``run=<JobRun>``; connect to them for alerts or metrics.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from django.dispatch import Signal

run_started = Signal()
run_finished = Signal()

_suspended: ContextVar[frozenset[Any]] = ContextVar("akjob_suspended", default=frozenset())


@contextmanager
def suspend_reschedule(pk: Any) -> Iterator[None]:
    """Within this block, changes to job ``pk``'s dates and day sets do not reschedule it."""
    token = _suspended.set(_suspended.get() | {pk})
    try:
        yield
    finally:
        _suspended.reset(token)


def reschedule_job(job: Any) -> None:
    """Recompute ``job``'s next run time unless its own save is applying the change."""
    if job is None or job.pk is None or job.pk in _suspended.get():
        return
    getattr(job, "_prefetched_objects_cache", {}).pop("dates", None)  # dates just changed
    job.reschedule()


def on_dates_changed(sender: Any, instance: Any, **kwargs: Any) -> None:
    from akjob.models import Job

    try:
        job = instance.job
    except Job.DoesNotExist:
        return
    if Job.objects.filter(pk=job.pk).exists():
        reschedule_job(job)


def on_days_changed(sender: Any, instance: Any, action: str, reverse: bool, **kwargs: Any) -> None:
    from akjob.models import Job

    if action not in {"post_add", "post_remove", "post_clear"}:
        return
    if not reverse:
        reschedule_job(instance)
        return
    for job in Job.objects.filter(pk__in=kwargs.get("pk_set") or ()):
        reschedule_job(job)


def on_job_saved(
    sender: Any, instance: Any, created: bool, raw: bool = False, **kwargs: Any
) -> None:
    """A saved job that gained or lost its code object is rescheduled: a job without one has no
    next run (nothing to run), and one that just got its code is due from now on."""
    if created or kwargs.get("raw"):
        return  # a new job's own save schedules it
    loaded = getattr(instance, "_loaded", {})
    if "_job_code" in loaded and (loaded["_job_code"] is None) != (instance._job_code is None):
        reschedule_job(instance)
