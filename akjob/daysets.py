"""The ``*_list`` properties of :class:`akjob.models.Job`.

Each is a plain-list view of a many-to-many set (or of the job's dates). Reading returns a new
sorted list, so list methods on it change nothing; assigning validates at once and is applied when
the job is saved, which also works on a job that has no primary key yet. They subclass
``property`` so that Django accepts them as keyword arguments (``Job(weekly_days_list=[2])``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError

LOADED = "_loaded_sets"  # the saved values as load_saved() read them, per list property


def _pending(instance: Any) -> dict[str, list[Any]]:
    return instance.__dict__.setdefault("_pending", {})


def load_saved(jobs: list[Any]) -> None:
    """Read the saved values of every ``*_list`` property of ``jobs`` at once: two statements
    for the whole list, no related managers built. The daemon reads them for every due
    job; :meth:`Job.save` forgets them once it has written staged values."""
    from akjob.daemon.sql import saved_sets

    if not jobs:
        return
    found = saved_sets([job.pk for job in jobs], LIST_PROPERTIES)
    for job in jobs:
        job.__dict__[LOADED] = {prop: sorted(found[prop].get(job.pk, [])) for prop in found}


def _related(instance: Any, name: str) -> Any:
    """The related rows: prefetched ones without building a manager (akjobd reads these for
    every due job), else through the manager."""
    cache = getattr(instance, "_prefetched_objects_cache", None)
    if cache and name in cache:
        return cache[name]
    return getattr(instance, name).all()


def _saved(instance: Any) -> bool:
    return instance.pk is not None and not instance._state.adding


class _ListProperty(property):
    """A list view of related rows: staged values first, then the saved ones."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if instance is None:
            return self
        pending = instance.__dict__.get("_pending", {})
        if self.name in pending:
            return list(pending[self.name])
        if not _saved(instance):
            return []
        loaded = instance.__dict__.get(LOADED)
        if loaded is not None and self.name in loaded:
            return list(loaded[self.name])
        return self.saved(instance)

    def saved(self, instance: Any) -> list[Any]:
        raise NotImplementedError


class DaySetProperty(_ListProperty):
    """A list of ints over a many-to-many field to DayOfMonth, DayOfWeek or Months."""

    def __init__(self, field: str, low: int, high: int, what: str) -> None:
        super().__init__()
        self.field, self.low, self.high, self.what = field, low, high, what

    def saved(self, instance: Any) -> list[int]:
        return sorted(obj.pk for obj in _related(instance, self.field))

    def __set__(self, instance: Any, values: Any) -> None:
        _pending(instance)[self.name] = self.normalise(values)

    def normalise(self, values: Any) -> list[int]:
        """Sorted, distinct ints; raise ValidationError naming the field and the rule."""
        if values is None:
            return []
        if isinstance(values, (str, bytes, int)) or not hasattr(values, "__iter__"):
            raise ValidationError(
                {self.field: [f"{self.name} takes a list of numbers, not {values!r}"]}
            )
        result = set()
        for value in values:
            number = getattr(value, "pk", value)
            if isinstance(number, bool) or not isinstance(number, int):
                raise ValidationError(
                    {self.field: [f"{value!r} is not {self.what} ({self.low}–{self.high})"]}
                )
            if not self.low <= number <= self.high:
                raise ValidationError(
                    {self.field: [f"{number} is not {self.what} ({self.low}–{self.high})"]}
                )
            result.add(number)
        return sorted(result)

    def apply(self, instance: Any, values: list[int]) -> None:
        getattr(instance, self.field).set(values)


class DatesListProperty(_ListProperty):
    """``dates_list``: the job's run dates (``JobDates.job_datetime``) as a sorted list."""

    field = "dates"

    def saved(self, instance: Any) -> list[datetime]:
        return sorted(d.job_datetime for d in _related(instance, "dates"))

    def __set__(self, instance: Any, values: Any) -> None:
        from akjob.jobschedule import check_datetime

        if values is None:
            values = []
        if isinstance(values, (str, bytes, datetime)) or not hasattr(values, "__iter__"):
            raise ValidationError(
                {"dates": [f"dates_list takes a list of datetimes, not {values!r}"]}
            )
        values = [check_datetime("dates", v) for v in values]
        _pending(instance)[self.name] = sorted(set(values))

    def apply(self, instance: Any, values: list[datetime]) -> None:
        from akjob.models import JobDates

        instance.dates.all().delete()
        getattr(instance, "_prefetched_objects_cache", {}).pop("dates", None)
        JobDates.objects.bulk_create(JobDates(job=instance, job_datetime=v) for v in values)


LIST_PROPERTIES = (
    "dates_list",
    "monthly_days_list",
    "weekly_days_list",
    "active_monthly_days_list",
    "active_weekly_days_list",
    "active_months_list",
)
