"""akjob's models: jobs, their dates and day sets, run records and daemon heartbeats.

Scheduling arithmetic lives in :mod:`akjob.schedule`; this module stores jobs and turns them into
schedules (:mod:`akjob.jobschedule`).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.db import models, transaction
from django.db.models.base import ModelState
from django.db.models.signals import post_init, pre_init

from akjob import codeobjects, daysets, jobcode
from akjob.calendars import ExcludeDatesProperty
from akjob.codeobjects import JobCallable
from akjob.daysets import DatesListProperty, DaySetProperty
from akjob.signals import deleting_jobs, suspend_reschedule
from akjob.timeutil import to_aware, to_db, truncate, utcnow

__all__ = [
    "DayOfMonth",
    "DayOfWeek",
    "Months",
    "Job",
    "JobCallable",
    "JobDates",
    "JobRun",
    "DaemonRecord",
    "Dashboard",
    "UpcomingRun",
]

ZERO = timedelta(0)
OFFSET_HELP = "A fixed offset such as -07:00:00, for a job without a time zone."


class DayOfMonth(models.Model):
    """A day of the month, 1–31 (the primary key is the day itself)."""

    day = models.PositiveSmallIntegerField(primary_key=True)

    class Meta:
        ordering = ["day"]
        verbose_name = "day of month"
        verbose_name_plural = "days of month"

    def __str__(self) -> str:
        return str(self.day)


class DayOfWeek(models.Model):
    """A day of the week, 1 = Sunday … 7 = Saturday (the primary key is the number)."""

    NAMES = {1: "Sunday", 2: "Monday", 3: "Tuesday", 4: "Wednesday", 5: "Thursday"}
    NAMES |= {6: "Friday", 7: "Saturday"}

    day = models.PositiveSmallIntegerField(primary_key=True)

    class Meta:
        ordering = ["day"]
        verbose_name = "day of week"
        verbose_name_plural = "days of week"

    def __str__(self) -> str:
        return self.NAMES.get(self.day, str(self.day))


class Months(models.Model):
    """A month, 1 = January … 12 = December (the primary key is the number)."""

    month = models.PositiveSmallIntegerField(primary_key=True)

    class Meta:
        ordering = ["month"]
        verbose_name = "month"
        verbose_name_plural = "months"

    def __str__(self) -> str:
        import calendar

        return calendar.month_name[self.month] if 1 <= self.month <= 12 else str(self.month)


class JobQuerySet(models.QuerySet):
    def due(self, now: datetime) -> JobQuerySet:
        """Jobs whose next run time has come and that have no run in progress holding them
        (every run does, except under the overlap policies ``allow`` and ``replace``); served by
        the index on ``_next_run`` and the unique index of runs in progress."""
        return self.filter(_next_run__lte=to_db(now), job_enabled=True).exclude(
            models.Exists(JobRun.objects.filter(running_for=models.OuterRef("pk")))
        )

    def with_running(self) -> JobQuerySet:
        """Annotate each job with ``running_since``: the start of its run in progress, or None."""
        runs = JobRun.objects.filter(job=models.OuterRef("pk"), status=JobRun.Status.RUNNING)
        runs = runs.order_by("started")
        return self.annotate(running_since=models.Subquery(runs.values("started")[:1]))

    def delete(self) -> tuple[int, dict[str, int]]:
        """Delete the jobs; none of them is rescheduled while its related rows go."""
        with deleting_jobs():
            return super().delete()

    delete.alters_data = True  # type: ignore[attr-defined]
    delete.queryset_only = True  # type: ignore[attr-defined]


# Fields whose change means the next run time must be computed again.
SCHEDULE_FIELDS = frozenset(
    {
        "run_every",
        "first_run_at",
        "monthly_time",
        "monthly_time_tz_offset_timedelta",
        "weekly_time",
        "weekly_time_tz_offset_timedelta",
        "cron",
        "timezone",
        "job_enabled",
        "run_count_limit",
        "active_time_begin",
        "active_time_end",
        "active_time_tz_offset_timedelta",
        "active_date_begin",
        "active_date_end",
        "month_positions",
        "exclude_dates",
        "holidays",
        "business_days_only",
        "jitter",
        "retries",
        "_run_count",
        "_last_interval",
    }
)


class Job(models.Model):
    """A scheduled job. See docs/api.md for every attribute."""

    name = models.CharField(
        "name",
        max_length=200,
        blank=True,
        default="",
        help_text="Shown in the job list, the run history and the logs.",
    )
    _job_code = models.BinaryField(null=True, blank=True, editable=False, db_column="job_code")
    # Counted up whenever the code blob changes; the blob's signature covers it (docs/security.md)
    _code_version = models.PositiveBigIntegerField(
        default=0, editable=False, db_column="code_version"
    )

    # Sources
    run_every = models.DurationField(
        "repeat every",
        null=True,
        blank=True,
        help_text="Runs at this interval, e.g. “15 minutes”, “1h30m”, “90 s” or “00:15:00”.",
    )
    first_run_at = models.DateTimeField(
        "first run at",
        null=True,
        blank=True,
        help_text="When the interval starts: runs fall on this time plus whole intervals. "
        "Empty: one interval after the job is saved.",
    )
    monthly_days = models.ManyToManyField(
        DayOfMonth,
        blank=True,
        related_name="monthly_jobs",
        verbose_name="days of the month",
        help_text="With a monthly time: the job runs on each of these days.",
    )
    monthly_time = models.TimeField(
        "monthly time", null=True, blank=True, help_text="The time of day of the monthly runs."
    )
    monthly_time_tz_offset_timedelta = models.DurationField(
        "monthly time's UTC offset", default=ZERO, help_text=OFFSET_HELP
    )
    weekly_days = models.ManyToManyField(
        DayOfWeek,
        blank=True,
        related_name="weekly_jobs",
        verbose_name="weekdays",
        help_text="With a weekly time: the job runs on each of these days.",
    )
    weekly_time = models.TimeField(
        "weekly time", null=True, blank=True, help_text="The time of day of the weekly runs."
    )
    weekly_time_tz_offset_timedelta = models.DurationField(
        "weekly time's UTC offset", default=ZERO, help_text=OFFSET_HELP
    )
    month_positions = models.CharField(
        max_length=200,
        blank=True,
        default="",
        help_text="places in the month, run at monthly_time: L (the last day), L-3 (three days "
        "before it), MON#1 (the first Monday), FRIL (the last Friday)",
    )
    cron = models.CharField(
        "cron expression",
        max_length=200,
        blank=True,
        default="",
        help_text="Five fields: minute, hour, day of month, month, weekday; "
        "e.g. “30 6 * * 1-5” is 06:30 from Monday to Friday.",
    )
    timezone = models.CharField(
        "time zone",
        max_length=64,
        blank=True,
        default="",
        help_text="An IANA name such as America/Denver, with daylight saving time. "
        "Empty: AKJOB_DEFAULT_TIMEZONE.",
    )

    # Limits
    job_enabled = models.BooleanField(
        "enabled", default=True, help_text="A disabled job keeps its settings and never runs."
    )
    run_count_limit = models.PositiveIntegerField(
        "run count limit",
        null=True,
        blank=True,
        help_text="The job stops after this many runs in all. Empty: no limit.",
    )
    active_time_begin = models.TimeField(
        "active from", null=True, blank=True, help_text="Runs only from this time of day …"
    )
    active_time_end = models.TimeField(
        "active until", null=True, blank=True, help_text="… until this time of day (included)."
    )
    active_time_tz_offset_timedelta = models.DurationField(
        "active hours' UTC offset", default=ZERO, help_text=OFFSET_HELP
    )
    active_monthly_days = models.ManyToManyField(
        DayOfMonth,
        blank=True,
        related_name="active_monthly_jobs",
        verbose_name="active days of the month",
        help_text="Runs only on these days of the month. None ticked: every day.",
    )
    active_weekly_days = models.ManyToManyField(
        DayOfWeek,
        blank=True,
        related_name="active_weekly_jobs",
        verbose_name="active weekdays",
        help_text="Runs only on these weekdays. None ticked: every day.",
    )
    active_months = models.ManyToManyField(
        Months,
        blank=True,
        related_name="active_jobs",
        verbose_name="active months",
        help_text="Runs only in these months. None ticked: every month.",
    )
    active_date_begin = models.DateField(
        "first active day", null=True, blank=True, help_text="Runs only from this date …"
    )
    active_date_end = models.DateField(
        "last active day", null=True, blank=True, help_text="… until this date (included)."
    )

    exclude_dates = models.TextField(
        blank=True, default="", help_text="dates (YYYY-MM-DD) with no run, comma-separated"
    )
    holidays = models.CharField(
        max_length=32,
        blank=True,
        default="",
        help_text="no run on the public holidays of this country, e.g. US or DE-BY "
        "(needs akjob[holidays])",
    )
    business_days_only = models.BooleanField(
        default=False, help_text="run on Monday to Friday only, holidays excepted"
    )
    jitter = models.DurationField(
        null=True,
        blank=True,
        help_text="move each run later by up to this much, the same amount for a run every time",
    )

    # Execution
    catch_up = models.CharField(
        max_length=8,
        choices=[
            ("once", "once: missed occurrences run once, together"),
            ("none", "none: missed occurrences are recorded missed"),
            ("all", "all: every missed occurrence runs, oldest first"),
        ],
        default="once",
        help_text="what happens to occurrences missed while no akjobd could run them",
    )
    deleteme = models.BooleanField(
        "delete when next due",
        default=False,
        help_text="akjobd deletes the job, without running it, when it is next due. "
        "(A job's own code can set it to be deleted after that run.)",
    )
    misfire_grace = models.DurationField(
        "misfire grace",
        null=True,
        blank=True,
        help_text="A run due longer ago than this (akjobd was down or busy) is not run but "
        "recorded missed, e.g. “5 minutes”. Empty: late runs still run, once.",
    )
    timeout = models.DurationField(
        "time limit",
        null=True,
        blank=True,
        help_text="A run still going after this long is stopped and recorded timed out, "
        "e.g. “1 hour”. Empty: no limit.",
    )

    overlap = models.CharField(
        max_length=8,
        choices=[
            ("skip", "skip: an occurrence due while a run is in progress is recorded skipped"),
            ("queue", "queue: it waits for the run to end, then runs (one waits at most)"),
            ("allow", "allow: it runs beside the one in progress, up to the maximum below"),
            ("replace", "replace: the run in progress is stopped and the new one starts"),
        ],
        default="skip",
        help_text="what happens when an occurrence comes while the job's last run is still going",
    )
    max_instances = models.PositiveSmallIntegerField(
        "runs at once",
        default=1,
        help_text="with overlap “allow”: the most runs of this job in progress at once; "
        "an occurrence beyond it is recorded skipped",
    )
    retries = models.PositiveSmallIntegerField(
        default=0,
        help_text="how many times a failed or timed-out run is tried again (0: never)",
    )
    retry_backoff = models.DurationField(
        "first retry after",
        default=timedelta(seconds=10),
        help_text="the wait before the first retry, e.g. “30 s”; each later wait is longer by "
        "the factor below",
    )
    retry_backoff_factor = models.FloatField(
        "retry wait factor",
        default=2.0,
        help_text="each retry waits this many times longer than the one before (1: always the "
        "same)",
    )
    retry_backoff_max = models.DurationField(
        "longest retry wait",
        default=timedelta(hours=1),
        help_text="no retry waits longer than this",
    )

    alert_after = models.DurationField(
        null=True,
        blank=True,
        help_text="an occurrence with no successful run within this time makes the job overdue",
    )

    # Housekeeping (written by akjob)
    _run_count = models.PositiveIntegerField("runs so far", default=0)
    _last_run = models.DateTimeField("last run", null=True, blank=True)
    _next_run = models.DateTimeField("next run", null=True, blank=True, db_index=True)
    _last_interval = models.DateTimeField("interval anchor", null=True, blank=True)
    # Alerts announced and not yet recovered (docs/monitoring.md): the occurrence the job is overdue
    # since, and the occurrence whose run failed. Written by akjob.alerts with compare-and-set
    # updates, so each is announced once whichever process notices first.
    _overdue_since = models.DateTimeField(null=True, blank=True, editable=False)
    _failing_since = models.DateTimeField(null=True, blank=True, editable=False)

    # Schedules declared in code (docs/schedules-in-code.md): the declaration's stable key
    # (empty for jobs made elsewhere), what the code said at the last sync, and when the
    # declaration disappeared from the code (the job was disabled then).
    code_key = models.CharField(
        max_length=200, null=True, blank=True, unique=True, editable=False, default=None
    )
    code_declaration = models.TextField(blank=True, default="", editable=False)
    code_removed = models.DateTimeField(null=True, blank=True, editable=False)

    objects = JobQuerySet.as_manager()

    # Set by save(): True when the code object's changes were not written because the row's code
    # object was replaced after this instance loaded it (see save()).
    _code_dropped = False

    monthly_days_list = DaySetProperty("monthly_days", 1, 31, "a day of the month")
    weekly_days_list = DaySetProperty("weekly_days", 1, 7, "a day of the week (1 = Sunday)")
    active_monthly_days_list = DaySetProperty("active_monthly_days", 1, 31, "a day of the month")
    active_weekly_days_list = DaySetProperty(
        "active_weekly_days", 1, 7, "a day of the week (1 = Sunday)"
    )
    active_months_list = DaySetProperty("active_months", 1, 12, "a month")
    dates_list = DatesListProperty()
    exclude_dates_list = ExcludeDatesProperty()

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        from akjob.jobschedule import job_zone
        from akjob.text import when

        limit = f"/{self.run_count_limit}" if self.run_count_limit is not None else ""
        nxt = when(self._next_run, job_zone(self)) if self._next_run else "none"
        return f"{self.name or 'Job'} (id {self.pk}): runs {self._run_count}{limit}, next {nxt}"

    # -- loading and saving -------------------------------------------------------------------

    def save(self, *args: Any, now: datetime | None = None, **kwargs: Any) -> None:
        """Validate, write only what changed since loading, then compute the next run time.

        The code object is signed here, for the job's id and the next version of its code
        (docs/security.md). A code object assigned to ``job_code_object`` is always written; a
        change to the code object this instance loaded (a run changed its own state) is written
        only if the row still holds the code this instance loaded. If it does not (the code
        object was replaced meanwhile), the other changed fields are saved all the same, the
        replacement is kept, and ``job._code_dropped`` is True after the save (False after
        every other save). See :mod:`akjob.jobcode`.
        """
        from akjob.jobschedule import validate

        self._code_dropped = False
        adding = self._state.adding or self.pk is None
        code = jobcode.planned(self, adding=adding)
        changed = self._changed_fields() if not adding else []
        if code is not None:
            changed = [name for name in changed if name not in jobcode.CODE_FIELDS]
        pending = self._pending_sets()
        if kwargs.get("update_fields") is not None:
            code = jobcode.named(kwargs, code)
        elif not adding:
            if not changed and not pending and code is None:
                return
            if "first_run_at" in changed and "_last_interval" not in changed:
                self._last_interval = None  # the interval starts again, from first_run_at
                changed.append("_last_interval")
            kwargs["update_fields"] = changed
        validate(self)
        # A job without a code object has no next run: gaining or losing one reschedules it.
        loaded_code = getattr(self, "_loaded", {}).get("_job_code")
        code_came_or_went = not adding and (loaded_code is None) != (self._job_code is None)
        using = kwargs.get("using")
        with transaction.atomic(using=using):
            with suspend_reschedule(self.pk):  # rescheduled once, below
                if kwargs.get("update_fields") != []:
                    super().save(*args, **kwargs)
                if code is not None:
                    jobcode.write(self, code, using=using)
                for name, values in pending.items():
                    getattr(type(self), name).apply(self, values)
            self.__dict__.pop("_pending", None)
            if pending:
                self.__dict__.pop(daysets.LOADED, None)
            self._remember_loaded()
            if adding or pending or code_came_or_went or SCHEDULE_FIELDS.intersection(changed):
                self.reschedule(now=now)

    save.alters_data = True

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        """Delete the job; it is not rescheduled while its related rows go."""
        with deleting_jobs():
            return super().delete(*args, **kwargs)

    delete.alters_data = True

    def clean(self) -> None:
        from akjob.jobschedule import check

        check(self)

    @classmethod
    def from_db(
        cls, db: str | None, field_names: Iterable[str], values: Iterable[Any], **kwargs: Any
    ) -> Job:
        """A job read from the database. A whole row, with no one listening for the model's
        init signals, is set on a new instance directly: a due wake-up loads a thousand jobs, and
        ``Model.__init__`` would go through every field of each (see docs/benchmarks.md)."""
        values = list(values)
        if len(values) != len(_attnames(cls)) or not cls._built_directly():
            instance = super().from_db(db, field_names, values, **kwargs)
            instance._remember_loaded()
            return instance
        return cls._from_row(db, values)

    @classmethod
    def from_rows(cls, db: str | None, rows: Iterable[list[Any]]) -> list[Job]:
        """Jobs from whole rows (every concrete field, in the model's order), as :meth:`from_db`
        builds them, asking once for the whole list whether anyone listens for init signals."""
        if not cls._built_directly():
            names = _attnames(cls)
            return [cls.from_db(db, names, row) for row in rows]
        return [cls._from_row(db, row) for row in rows]

    @classmethod
    def _built_directly(cls) -> bool:
        return not (pre_init.has_listeners(cls) or post_init.has_listeners(cls))

    @classmethod
    def _from_row(cls, db: str | None, values: list[Any]) -> Job:
        instance = cls.__new__(cls)
        instance.__dict__.update(zip(_attnames(cls), values, strict=True))
        state = instance._state = ModelState()
        state.adding = False
        state.db = db
        instance._remember_loaded()
        return instance

    def refresh_from_db(
        self, using: str | None = None, fields: Any = None, from_queryset: Any = None
    ) -> None:
        """Reload fields from the database. What was reloaded counts as loaded (``save()``
        writes what changed since), and a reloaded code blob replaces the code object read
        from the one before."""
        super().refresh_from_db(using=using, fields=fields, from_queryset=from_queryset)
        names = None if fields is None else {self._meta.get_field(f).attname for f in fields}
        loaded = getattr(self, "_loaded", None)
        if loaded is None:
            return
        for field in self._meta.concrete_fields:
            if field.attname in self.__dict__ and (names is None or field.attname in names):
                loaded[field.attname] = self.__dict__[field.attname]
        if names is None or names & jobcode.CODE_FIELDS:
            for key in (jobcode.OBJECT, jobcode.CURRENT, jobcode.ASSIGNED):
                self.__dict__.pop(key, None)

    refresh_from_db.alters_data = True

    def _remember_loaded(self) -> None:
        """Keep the field values as they are now: what ``save()`` compares against."""
        loaded = self.__dict__.copy()  # far cheaper than a pass over the fields
        loaded.pop("_loaded", None)
        self._loaded = loaded

    def _changed_fields(self) -> list[str]:
        loaded = getattr(self, "_loaded", {})
        return [
            f.name
            for f in self._meta.concrete_fields
            if not f.primary_key
            and f.attname in loaded
            and _differs(self.__dict__.get(f.attname), loaded[f.attname])
        ]

    def _pending_sets(self) -> dict[str, list[Any]]:
        return dict(self.__dict__.get("_pending", {}))

    def reschedule(self, now: datetime | None = None) -> datetime | None:
        """Compute the next run time at or after ``now`` and store it (and the interval anchor)."""
        from akjob.jobschedule import next_run_for

        now = truncate(now or utcnow())
        with transaction.atomic():
            fresh = (
                Job.objects.select_for_update()
                .filter(pk=self.pk)
                .values("_run_count", "_last_interval")
                .first()
            )
            if fresh is None:
                return None
            self._run_count = fresh["_run_count"]
            self._last_interval = fresh["_last_interval"]
            if self.run_every and self._last_interval is None:
                self._last_interval = to_db(interval_anchor(self, now))
            nxt = next_run_for(self, at=now)
            self._next_run = to_db(nxt)
            # A retry waiting for its time is dropped: the job starts again from its schedule.
            JobRun.objects.filter(job_id=self.pk, retry_at__isnull=False).update(retry_at=None)
            Job.objects.filter(pk=self.pk).update(
                _next_run=self._next_run, _last_interval=self._last_interval
            )
        if hasattr(self, "_loaded"):
            self._loaded.update(_next_run=self._next_run, _last_interval=self._last_interval)
            self._loaded.update(_run_count=self._run_count)
        return nxt

    reschedule.alters_data = True

    # -- the seed's API -----------------------------------------------------------------------

    @property
    def job_code_object(self) -> Any:
        """The job's code object; verified (for this job and its code version) and unpickled on
        first access. Raises :class:`~akjob.exceptions.SignatureError` with the reason when
        the stored blob does not verify."""
        if jobcode.OBJECT not in self.__dict__:
            if self._job_code is None:
                return None
            blob = bytes(self._job_code)
            obj, current = codeobjects.load(blob, job=self.pk, version=self._code_version)
            self.__dict__[jobcode.OBJECT] = obj
            if current:  # saved unchanged, the object keeps this blob (no signing again)
                self.__dict__[jobcode.CURRENT] = blob
        return self.__dict__[jobcode.OBJECT]

    @job_code_object.setter
    def job_code_object(self, obj: Any) -> None:
        jobcode.assign(self, obj)  # raises InvalidJobCode with the reason

    def next_run(self, now: datetime | None = None) -> datetime | None:
        """The next run time at or after now (or None), stored in ``_next_run``."""
        from akjob.jobschedule import next_run_for

        now = truncate(now or utcnow())
        if self.pk is not None and not self._state.adding:
            return self.reschedule(now=now)
        nxt = next_run_for(self, at=now)
        self._next_run = to_db(nxt)
        return nxt

    def upcoming(self, count: int = 10, after: datetime | None = None) -> list[datetime]:
        """The next ``count`` run times strictly after ``after`` (default now); changes nothing."""
        from akjob.jobschedule import upcoming_for

        return upcoming_for(self, after=after or utcnow(), count=count)

    @property
    def _job_running(self) -> bool:
        """Whether a run of this job is in progress: a run record says so (see docs/guarantees.md).
        Read only; nothing can leave it stuck, since the record is the truth."""
        if "running_since" in self.__dict__:  # annotated by JobQuerySet.with_running()
            return self.__dict__["running_since"] is not None
        if self.pk is None:
            return False
        return JobRun.objects.filter(job_id=self.pk, status=JobRun.Status.RUNNING).exists()

    @property
    def in_code(self) -> bool:
        """Whether the job is declared in code (its schedule is the code's to change)."""
        return self.code_key is not None

    @property
    def declared_path(self) -> str:
        """For a job declared in code, the dotted path of its function; "" otherwise."""
        import json

        try:
            recorded = json.loads(self.code_declaration or "{}")
        except ValueError:
            return ""
        return str(recorded.get("path") or "") if isinstance(recorded, dict) else ""

    def describe(self) -> str:
        """A one-line description of the schedule, e.g. "every 15 minutes, Mon–Fri"."""
        from akjob.jobschedule import describe_job

        return describe_job(self)


def _differs(a: Any, b: Any) -> bool:
    if isinstance(a, memoryview):
        a = bytes(a)
    if isinstance(b, memoryview):
        b = bytes(b)
    return a != b


class JobDates(models.Model):
    """One date and time at which a job runs."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="dates")
    job_datetime = models.DateTimeField()

    class Meta:
        ordering = ["job_datetime"]
        verbose_name = "job date"
        verbose_name_plural = "job dates"

    def __str__(self) -> str:
        return str(self.job_datetime)

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.clean()
        super().save(*args, **kwargs)

    def clean(self) -> None:
        from akjob.jobschedule import check_datetime

        check_datetime("job_datetime", self.job_datetime)


class JobRun(models.Model):
    """The record of one occurrence of a job: run, missed or skipped."""

    class Status(models.TextChoices):
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        TIMED_OUT = "timed out"
        INTERRUPTED = "interrupted"
        MISSED = "missed"
        SKIPPED = "skipped"

    job = models.ForeignKey(Job, on_delete=models.SET_NULL, null=True, related_name="runs")
    job_name = models.CharField(max_length=200, blank=True, default="")
    scheduled = models.DateTimeField(help_text="the occurrence this record is for")
    started = models.DateTimeField(null=True, blank=True)
    finished = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, db_index=True)
    error = models.TextField(blank=True, default="")
    missed_count = models.PositiveIntegerField(default=0)
    host = models.CharField(max_length=255, blank=True, default="")
    pid = models.PositiveIntegerField(null=True, blank=True)
    daemon = models.ForeignKey(
        "DaemonRecord", on_delete=models.SET_NULL, null=True, blank=True, related_name="runs"
    )
    lease_until = models.DateTimeField(null=True, blank=True)
    task_result_id = models.CharField(max_length=255, blank=True, default="")
    # Runs handed to Django's Tasks framework (akjob.tasks.TaskCall): the task backend's alias
    # and the task's status as the backend last reported it (READY, RUNNING, SUCCESSFUL, FAILED).
    task_backend = models.CharField(max_length=100, blank=True, default="")
    task_status = models.CharField(max_length=16, blank=True, default="", db_index=True)
    # The job's id while this run is in progress, None otherwise. Unique: the database itself
    # holds a job to one run in progress (NULLs do not collide, on every supported database).
    running_for = models.PositiveBigIntegerField(null=True, blank=True, unique=True, editable=False)
    # Retries (docs/guarantees.md, "Retries"): the attempt this record is for (1: the occurrence's
    # first run), and, on a failed attempt, when the next one is due (None once it is claimed
    # or dropped). Overlap "queue": how long the occurrence waited for the run before it.
    attempt = models.PositiveSmallIntegerField(default=1)
    retry_at = models.DateTimeField(null=True, blank=True, editable=False)
    waited = models.DurationField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-scheduled", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["job", "scheduled", "attempt"], name="akjob_one_run_per_attempt"
            )
        ]
        indexes = [models.Index(fields=["status", "lease_until"], name="akjob_run_status_lease")]
        verbose_name = "job run"

    def __str__(self) -> str:
        return f"{self.job_name or self.job_id} @ {self.scheduled}: {self.status}"


class UpcomingRun(Job):
    """The admin's "Upcoming runs" entry: a proxy of Job, with no table of its own."""

    class Meta:
        proxy = True
        verbose_name = "upcoming run"
        verbose_name_plural = "upcoming runs"


class DaemonRecord(models.Model):
    """One akjobd process, with its heartbeat."""

    host = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    started = models.DateTimeField()
    heartbeat = models.DateTimeField(db_index=True)
    stopped = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-heartbeat"]
        verbose_name = "daemon (akjobd)"
        verbose_name_plural = "daemons (akjobd)"

    def __str__(self) -> str:
        return f"akjobd {self.host}:{self.pid}"


class Dashboard(DaemonRecord):
    """No table of its own: the admin dashboard's place in the admin index (akjob.dashboard)."""

    class Meta:
        proxy = True
        verbose_name = "dashboard"
        verbose_name_plural = "dashboard"


@functools.cache
def _attnames(model: type[models.Model]) -> tuple[str, ...]:
    """The attribute names of a model's concrete fields, in the order rows come back."""
    return tuple(f.attname for f in model._meta.concrete_fields)


def interval_anchor(job: Job, now: datetime) -> datetime:
    """Where a job's interval grid starts when it has none yet: one interval before
    ``first_run_at`` (the grid's first run is one interval after its anchor), else ``now``."""
    start = to_aware(job.first_run_at) if isinstance(job.first_run_at, datetime) else None
    if start is None or not isinstance(job.run_every, timedelta):
        return now
    try:
        return truncate(start - job.run_every)
    except OverflowError:
        return truncate(start)


def last_grid_point(anchor: datetime, every: timedelta, scheduled: datetime) -> datetime:
    """The latest point of the interval grid ``anchor + k*every`` at or before ``scheduled``."""
    if scheduled <= anchor:
        return anchor
    return anchor + ((scheduled - anchor) // every) * every
