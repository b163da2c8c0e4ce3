"""What the job pages show beyond the model's fields: run times, reasons, the last runs.

All of it is read from the schedule engine (pure) and the run records. Nothing here unpickles a
job's code object: it is read inertly (:mod:`akjob.admin.stored_code`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import F, OuterRef, Q, QuerySet, Subquery

from akjob.admin import stored_code
from akjob.admin.common import field_words, zone_of, zone_rule
from akjob.jobschedule import forecast
from akjob.models import Job, JobRun
from akjob.text import zone_name
from akjob.timeutil import to_aware, truncate, utcnow

PREFETCH = (
    "dates",
    "monthly_days",
    "weekly_days",
    "active_monthly_days",
    "active_weekly_days",
    "active_months",
)
NEXT_COUNT = 10
LAST_RUNS = 20
NOT_RUN = (JobRun.Status.MISSED, JobRun.Status.SKIPPED)  # records of occurrences that did not run


def code_state(job: Job) -> str:
    """The stored code object in one line: what it calls, or why it will not run."""
    stored = stored_code.read(job._job_code, job=job.pk, version=job._code_version)
    if stored.state == "ok":
        return f"{stored.summary()} (signature OK)"
    return stored.summary()


def with_last_run(queryset: QuerySet[Job]) -> QuerySet[Job]:
    """Annotate ``last_status``: the status of the job's latest run that really started."""
    latest = (
        JobRun.objects.filter(job=OuterRef("pk"))
        .exclude(status__in=NOT_RUN)
        .order_by(F("started").desc(nulls_last=True), "-scheduled", "-id")
        .values("status")[:1]
    )
    return queryset.annotate(last_status=Subquery(latest))


SOURCE_FILTERS = {
    "dates": Q(dates__isnull=False),
    "interval": Q(run_every__isnull=False),
    "monthly": Q(monthly_time__isnull=False),
    "weekly": Q(weekly_time__isnull=False),
    "cron": ~Q(cron=""),
}


def filter_by_source(queryset: QuerySet[Job], kind: str) -> QuerySet[Job]:
    """Jobs with a source of ``kind``; "none" for jobs without any source."""
    if kind == "none":
        nothing = Q()
        for condition in SOURCE_FILTERS.values():
            nothing |= condition
        return queryset.exclude(pk__in=Job.objects.filter(nothing).values("pk"))
    return queryset.filter(pk__in=Job.objects.filter(SOURCE_FILTERS[kind]).values("pk"))


@dataclass
class RunTimes:
    """The change page's view of the future: the next run times, or why there are none.

    ``zone`` is the job's own IANA zone, when it has one; ``local`` then holds the times in it.
    """

    times: list[datetime] = field(default_factory=list)
    reason: str | None = None
    zone: str = ""
    local: list[datetime] = field(default_factory=list)

    @property
    def said(self) -> str:
        """The reason in the form's words (its labels instead of field names)."""
        return field_words(self.reason or "")

    def rows(self) -> list[tuple[datetime, datetime | None]]:
        return list(zip(self.times, self.local or [None] * len(self.times), strict=True))


def run_times(job: Job, *, now: datetime | None = None, count: int = NEXT_COUNT) -> RunTimes:
    """The job's next ``count`` run times after now, or the reason it has none."""
    found = forecast(job, after=truncate(now or utcnow()), count=count)
    times = list(found.times)
    zone = zone_of(job)
    local = [t.astimezone(zone) for t in times]
    return RunTimes(times, reason=found.reason, zone=zone_name(zone), local=local)


def no_run_reason(job: Job, *, now: datetime | None = None) -> str:
    """Why a job has no next run (for the list, where its next run would be)."""
    return field_words(run_times(job, now=now, count=1).reason or "no run time is left")


def change_page_context(job: Job | None) -> dict[str, Any]:
    """The extra context of a job's change page: run times, the last runs, the zone rule."""
    if job is None or job.pk is None:
        return {"akjob_zone_rule": zone_rule(None)}
    return {
        "akjob_zone_rule": zone_rule(zone_of(job)),
        "akjob_run_times": run_times(job),
        "akjob_last_runs": list(job.runs.order_by("-scheduled", "-id")[:LAST_RUNS]),
        "akjob_runs_kept": LAST_RUNS,
    }


def save_warning(job: Job, *, now: datetime | None = None) -> str:
    """A warning for a saved job that can never run, or has only dates in the past; "" when
    it will run (or is disabled on purpose)."""
    now = truncate(now or utcnow())
    sources = job.dates_list or job.run_every or job.weekly_time or job.monthly_time or job.cron
    if not sources:
        return (
            "This job has no schedule, so it will never run: give it a repeat interval, weekly "
            "or monthly days and a time, a cron expression or dates."
        )
    only_dates = not (job.run_every or job.weekly_time or job.monthly_time or job.cron)
    if only_dates and all(to_aware(d) <= now for d in job.dates_list):
        return "All of this job's dates are in the past, so it will not run again."
    if not job.job_enabled or job._next_run is not None:
        return ""
    return f"This job will not run again: {no_run_reason(job, now=now)}."
