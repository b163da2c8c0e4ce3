"""Django signals akjob sends, and the receivers that keep ``_next_run`` current.

``run_started`` and ``run_finished`` are sent by akjobd (in the daemon process) with
``sender=Job`` and ``run=<JobRun>``; connect to them for alerts or metrics.

A change to a job's dates or day sets reschedules the job, except while the job's own save is
applying the change (:func:`suspend_reschedule`) or while the job is being deleted
(:func:`deleting_jobs`): a delete removes the day sets before the dates and the job, and a
reschedule in between would validate a half-deleted job.
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
_deleting: ContextVar[tuple[set[Any], ...]] = ContextVar("akjob_deleting", default=())


@contextmanager
def suspend_reschedule(pk: Any) -> Iterator[None]:
    """Within this block (the job's own save), changes to job ``pk``'s code, dates and day sets
    do not reschedule it: the save reschedules it once, at its end."""
    token = _suspended.set(_suspended.get() | {pk})
    try:
        yield
    finally:
        _suspended.reset(token)


@contextmanager
def deleting_jobs() -> Iterator[None]:
    """Around a delete of jobs (``Job.delete()``, ``Job.objects.….delete()``): every job that
    the delete collects is never rescheduled until the block ends, whatever related rows change
    meanwhile (its dates, its day sets, or rows a receiver of the project's changes)."""
    token = _deleting.set((*_deleting.get(), set()))
    try:
        yield
    finally:
        _deleting.reset(token)


def on_job_pre_delete(sender: Any, instance: Any, **kwargs: Any) -> None:
    """Note a job that a delete collected, in the innermost :func:`deleting_jobs` block."""
    scopes = _deleting.get()
    if scopes and instance.pk is not None:
        scopes[-1].add(instance.pk)


def being_deleted(pk: Any) -> bool:
    """Whether a delete under way in this context has collected job ``pk``."""
    return any(pk in scope for scope in _deleting.get())


def _deleted_with_its_job(origin: Any) -> bool:
    """Whether a post_delete of a job's dates comes from a delete of jobs (a job instance or a
    queryset of jobs, also one that does not go through :func:`deleting_jobs`)."""
    from akjob.models import Job

    model = getattr(origin, "model", None)
    return isinstance(origin, Job) or (isinstance(model, type) and issubclass(model, Job))


def reschedule_job(job: Any) -> None:
    """Recompute ``job``'s next run time unless its own save is applying the change or the job
    is being deleted."""
    if job is None or job.pk is None or job.pk in _suspended.get() or being_deleted(job.pk):
        return
    getattr(job, "_prefetched_objects_cache", {}).pop("dates", None)  # dates just changed
    job.reschedule()


def on_dates_changed(sender: Any, instance: Any, **kwargs: Any) -> None:
    from akjob.models import Job

    if _deleted_with_its_job(kwargs.get("origin")):
        return
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
