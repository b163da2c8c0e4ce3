"""The ``*_list`` properties of :class:`akjob.models.Job`.

Each is a plain-list view of a many-to-many set (or of the job's dates). Reading returns a new
sorted list, so list methods on it change nothing; assigning validates at once and is applied when
the job is saved, which also works on a job that has no primary key yet. They subclass
``property`` so that Django accepts them as keyword arguments (``Job(weekly_days_list=[2])``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone as dj_timezone
from django.utils.dateparse import parse_datetime

LOADED = "_loaded_sets"  # the saved values as load_saved() read them, per list property


def _pending(instance: Any) -> dict[str, list[Any]]:
    return instance.__dict__.setdefault("_pending", {})


def load_saved(jobs: list[Any]) -> None:
    """Read the saved values of every ``*_list`` property of ``jobs`` at once: two statements
    for the whole list, no related managers built. The daemon reads them for every due
    job; :meth:`Job.save` forgets them once it has written staged values."""
    if not jobs:
        return
    found = list(saved_sets(type(jobs[0]), [job.pk for job in jobs], LIST_PROPERTIES).items())
    for job in jobs:
        pk = job.pk
        # Kept as tuples (each read copies one into a list); most are empty and share one.
        job.__dict__[LOADED] = {
            prop: tuple(sorted(values[pk])) if pk in values else () for prop, values in found
        }


def current_sets(instance: Any) -> tuple[tuple[Any, ...], ...]:
    """The values of every ``*_list`` property, in the order of LIST_PROPERTIES, as tuples and
    as the properties give them (staged values first, then the saved ones), in one call: what
    akjobd reads of every due job (see :func:`akjob.jobschedule.schedule_inputs`)."""
    loaded = instance.__dict__.get(LOADED)
    if (
        loaded is not None
        and not instance.__dict__.get("_pending")
        and len(loaded) == len(LIST_PROPERTIES)
        and _saved(instance)
    ):
        return tuple(loaded[prop] for prop in LIST_PROPERTIES)
    return tuple(tuple(getattr(instance, prop)) for prop in LIST_PROPERTIES)


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


# -- reading the saved sets of many jobs at once -------------------------------------------


def chunks(items: list[Any], *, per_item: int) -> list[list[Any]]:
    """``items`` in pieces that fit one statement, each item taking ``per_item`` parameters (one
    piece where the database sets no limit)."""
    limit = connection.features.max_query_params
    step = max(limit // per_item, 1) if limit else max(len(items), 1)
    return [items[start : start + step] for start in range(0, len(items), step)]


def saved_sets(
    model: Any, ids: list[int], props: tuple[str, ...]
) -> dict[str, dict[int, list[Any]]]:
    """The saved values of the jobs' ``*_list`` properties (``props``), by property and job: two
    statements for any number of jobs (the day sets together, then the dates), more only where
    the database takes few parameters per statement."""
    found: dict[str, dict[int, list[Any]]] = {prop: {} for prop in props}
    for chunk in chunks(ids, per_item=len(props)):
        _saved_sets(model, chunk, props, found)
    return found


def one_of(ids: list[int]) -> tuple[str, list[Any]]:
    """SQL that tells whether a column holds one of ``ids`` (integers), and its parameters. On
    PostgreSQL the ids go as one array: its driver spends more on each parameter it sends than
    the server spends on the row."""
    if connection.vendor == "postgresql":
        array = "{" + ",".join(str(int(pk)) for pk in ids) + "}"
        return "IN (SELECT unnest(CAST(%s AS bigint[])))", [array]
    return f"IN ({', '.join(['%s'] * len(ids))})", list(ids)


def _saved_sets(model: Any, ids: list[int], props: tuple[str, ...], found: dict[str, Any]) -> None:
    quote = connection.ops.quote_name
    marks, values = one_of(ids)
    selects, params = [], []
    for i, prop in enumerate(props):
        if prop == "dates_list":
            continue
        field = model._meta.get_field(getattr(model, prop).field)
        through = field.remote_field.through._meta
        src = quote(through.get_field(field.m2m_field_name()).column)
        tgt = quote(through.get_field(field.m2m_reverse_field_name()).column)
        selects.append(
            f"SELECT {i}, {src}, {tgt} FROM {quote(through.db_table)} WHERE {src} {marks}"
        )
        params += values
    with connection.cursor() as cursor:
        if selects:
            cursor.execute(" UNION ALL ".join(selects), params)
            for i, job_id, value in cursor.fetchall():
                found[props[i]].setdefault(job_id, []).append(value)
        if "dates_list" in props:
            dates = model._meta.get_field("dates").related_model._meta
            job_col = quote(dates.get_field("job").column)
            when = quote(dates.get_field("job_datetime").column)
            table = quote(dates.db_table)
            cursor.execute(f"SELECT {job_col}, {when} FROM {table} WHERE {job_col} {marks}", values)
            for job_id, value in cursor.fetchall():
                found["dates_list"].setdefault(job_id, []).append(from_db(value))


def from_db(value: Any) -> datetime | None:
    """A datetime read with a raw cursor, as the ORM would give it."""
    if value is None:
        return None
    if isinstance(value, str):  # a database without a datetime type hands back text
        value = parse_datetime(value)
    if settings.USE_TZ and dj_timezone.is_naive(value):
        value = value.replace(tzinfo=UTC)  # stored in UTC (SQLite, MySQL)
    elif not settings.USE_TZ and dj_timezone.is_aware(value):
        value = dj_timezone.make_naive(value, dj_timezone.get_default_timezone())
    return value
