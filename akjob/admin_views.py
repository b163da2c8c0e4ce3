"""What akjob's admin pages show beyond the models: run times, reasons, the upcoming runs page.

All of it is read from the schedule engine (pure) and the run records. Nothing here unpickles a
job's code object: its state is shown from the signature check alone.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import F, OuterRef, Q, QuerySet, Subquery
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from akjob import codeobjects
from akjob import schedule as engine
from akjob.admin_forms import UpcomingRangeForm
from akjob.jobschedule import build, forecast
from akjob.models import Job, JobRun
from akjob.timeutil import to_db, utcnow

if TYPE_CHECKING:
    from django.contrib.admin import ModelAdmin

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
PER_JOB = 200  # runs listed per job on the upcoming page
TOTAL = 1000  # rows on the upcoming page
NOT_RUN = (JobRun.Status.MISSED, JobRun.Status.SKIPPED)  # records of occurrences that did not run
KINDS = {
    engine.DatesSource: "dates",
    engine.IntervalSource: "interval",
    engine.MonthlySource: "monthly",
    engine.WeeklySource: "weekly",
    engine.CronSource: "cron",
}


def code_state(job: Job) -> str:
    """The stored code object, described from its signature alone (it is never unpickled)."""
    blob = job._job_code
    if blob is None:
        return "none"
    ok = codeobjects.verify(blob, job=job.pk, version=job._code_version)
    state = "OK" if ok else "INVALID (it will not be run)"
    return f"signed code object ({len(bytes(blob))} bytes), signature {state}"


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

    def rows(self) -> list[tuple[datetime, datetime | None]]:
        return list(zip(self.times, self.local or [None] * len(self.times), strict=True))


def run_times(job: Job, *, now: datetime | None = None, count: int = NEXT_COUNT) -> RunTimes:
    """The job's next ``count`` run times after now, or the reason it has none."""
    found = forecast(job, after=now or utcnow(), count=count)
    times = list(found.times)
    if times and job.timezone:
        zone = ZoneInfo(job.timezone)  # forecast() has checked the name
        return RunTimes(times, zone=job.timezone, local=[t.astimezone(zone) for t in times])
    return RunTimes(times, reason=found.reason)


def change_page_context(job: Job | None) -> dict[str, Any]:
    """The extra context of a job's change page: run times and the last runs."""
    if job is None or job.pk is None:
        return {}
    return {
        "akjob_run_times": run_times(job),
        "akjob_last_runs": list(job.runs.order_by("-scheduled", "-id")[:LAST_RUNS]),
        "akjob_runs_kept": LAST_RUNS,
    }


@dataclass(frozen=True, order=True)
class Upcoming:
    """One run due in the range: when, which job, and which of its sources give that time."""

    when: datetime
    job_id: int
    job: Job = field(compare=False)
    kinds: tuple[str, ...] = field(compare=False)
    schedule: str = field(compare=False, default="")


def _job_runs(job: Job, start: datetime, end: datetime) -> tuple[list[Upcoming], bool]:
    """The job's runs in (start, end], and whether there were more than :data:`PER_JOB`."""
    try:
        schedule = build(job, now=start)
    except ValidationError:
        return [], False
    times = [t for t in engine.upcoming(schedule, after=start, count=PER_JOB + 1) if t <= end]
    if not times:
        return [], False
    by_source: dict[datetime, list[str]] = {}
    for source in schedule.sources:
        alone = engine.Schedule((source,), schedule.limits)
        for t in engine.upcoming(alone, after=start, count=len(times)):
            if t <= times[-1]:
                by_source.setdefault(t, []).append(KINDS.get(type(source), "?"))
    described = engine.describe(schedule)
    rows = [
        Upcoming(t, job.pk, job, tuple(by_source.get(t, ())), described) for t in times[:PER_JOB]
    ]
    return rows, len(times) > PER_JOB


def upcoming_runs(start: datetime, end: datetime) -> tuple[list[Upcoming], list[Job]]:
    """Every run due in (start, end] across all jobs, in time order (at most :data:`TOTAL`), and
    the jobs whose runs were cut at :data:`PER_JOB`."""
    jobs = Job.objects.filter(job_enabled=True, _next_run__isnull=False, _next_run__lte=to_db(end))
    per_job, cut = [], []
    for job in jobs.prefetch_related(*PREFETCH):
        rows, more = _job_runs(job, start, end)
        per_job.append(rows)
        if more:
            cut.append(job)
    return list(heapq.merge(*per_job))[:TOTAL], cut


def upcoming_view(model_admin: ModelAdmin, request: HttpRequest) -> HttpResponse:
    """The "Upcoming runs" page: every run due in the chosen range (default: the next 24 h)."""
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    form = UpcomingRangeForm(request.GET or None)
    rows: list[Upcoming] = []
    cut: list[Job] = []
    start = end = None
    status = 200
    if form.is_bound and not form.is_valid():
        status = 400
    else:
        if not form.is_bound:
            form = UpcomingRangeForm({"hours": 24})
            form.is_valid()
        start, end = form.range()
        rows, cut = upcoming_runs(start, end)
    context = {
        **model_admin.admin_site.each_context(request),
        "title": "Upcoming runs",
        "opts": model_admin.model._meta,
        "form": form,
        "rows": rows,
        "cut": cut,
        "per_job": PER_JOB,
        "total": TOTAL,
        "start": start,
        "end": end,
        "presets": UpcomingRangeForm.HOURS,
    }
    return TemplateResponse(request, "admin/akjob/job/upcoming.html", context, status=status)
