"""The "Upcoming runs" page: every run due in a range, across all jobs or for one.

A job that runs often in the range is one row ("every 20 seconds: 4,320 runs") that opens to
list its first runs, so the other jobs stay readable; the rows are paginated, never cut silently.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django import forms
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from akjob import schedule as engine
from akjob.admin.common import site_zone, zone_of, zone_rule
from akjob.admin.job_page import PREFETCH
from akjob.jobschedule import build
from akjob.models import Job
from akjob.timeutil import to_aware, to_db, utcnow

if TYPE_CHECKING:
    from django.contrib.admin import ModelAdmin

FREQUENT = 24  # a job with more runs than this in the range is one row that opens
LISTED = 200  # runs listed under a frequent job's row
ONE_JOB = 5000  # runs listed for one chosen job, at most (the page says how many more)
PAGE = 100  # rows per page
KINDS = {
    engine.DatesSource: "dates",
    engine.IntervalSource: "interval",
    engine.MonthlySource: "monthly",
    engine.WeeklySource: "weekly",
    engine.CronSource: "cron",
}


class UpcomingRangeForm(forms.Form):
    """The range of the page: a start (default now), a number of hours, optionally one job."""

    MAX_HOURS = 31 * 24
    HOURS = [(1, "1 hour"), (6, "6 hours"), (24, "24 hours"), (72, "3 days"), (168, "7 days")]
    HOURS += [(MAX_HOURS, "31 days")]

    start = forms.DateTimeField(
        required=False,
        label="from",
        help_text="Empty for now; read in the site's time zone.",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
    hours = forms.IntegerField(label="hours", min_value=1, max_value=MAX_HOURS, initial=24)
    job = forms.ModelChoiceField(
        queryset=Job.objects.order_by("name", "pk"),
        required=False,
        label="job",
        empty_label="all jobs",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["job"].label_from_instance = lambda job: job.name or f"job {job.pk}"

    def clean_start(self) -> datetime | None:
        start = self.cleaned_data.get("start")
        if start is not None and to_aware(start) < utcnow() - timedelta(minutes=1):
            raise ValidationError("The range must start now or later.", code="past")
        return start

    def range(self) -> tuple[datetime, datetime]:
        """(start, end) as aware UTC datetimes; call after is_valid()."""
        start = to_aware(self.cleaned_data.get("start")) or utcnow()
        start = max(start, utcnow()).replace(microsecond=0)
        return start, start + timedelta(hours=self.cleaned_data.get("hours") or 24)


@dataclass(frozen=True, order=True)
class Upcoming:
    """A row: one run (``count`` 1), or a frequent job's runs in the range (``count`` of them,
    the first ``times`` listed), with the sources that give the first time."""

    when: datetime
    job_id: int
    job: Job = field(compare=False)
    kinds: tuple[str, ...] = field(compare=False)
    schedule: str = field(compare=False, default="")
    count: int = field(compare=False, default=1)
    times: tuple[datetime, ...] = field(compare=False, default=())

    @property
    def local(self) -> datetime:
        return self.when.astimezone(zone_of(self.job))

    def local_times(self) -> list[datetime]:
        zone = zone_of(self.job)
        return [t.astimezone(zone) for t in self.times]


def _sources_of(schedule: engine.Schedule, start: datetime, times: list[datetime]) -> dict:
    by_source: dict[datetime, list[str]] = {}
    for source in schedule.sources:
        alone = engine.Schedule((source,), schedule.limits)
        for t in engine.upcoming(alone, after=start, count=len(times)):
            if t <= times[-1]:
                by_source.setdefault(t, []).append(KINDS.get(type(source), "?"))
    return by_source


def job_rows(job: Job, start: datetime, end: datetime, *, collapse: bool) -> list[Upcoming]:
    """The job's rows for runs in (start, end]: one per run, or one for all when it is frequent
    and ``collapse``."""
    try:
        schedule = build(job, now=start)
    except ValidationError:
        return []
    limit = FREQUENT + 1 if collapse else ONE_JOB
    times = [t for t in engine.upcoming(schedule, after=start, count=limit) if t <= end]
    if not times:
        return []
    described = engine.describe(schedule)
    if collapse and len(times) > FREQUENT:
        listed = [t for t in engine.upcoming(schedule, after=start, count=LISTED) if t <= end]
        total = engine.count_between(schedule, start=start + timedelta(seconds=1), end=end)
        kinds = tuple(_sources_of(schedule, start, times[:1]).get(times[0], ()))
        return [Upcoming(times[0], job.pk, job, kinds, described, total, tuple(listed))]
    by_source = _sources_of(schedule, start, times)
    return [Upcoming(t, job.pk, job, tuple(by_source.get(t, ())), described) for t in times]


def upcoming_runs(start: datetime, end: datetime, job: Job | None = None) -> list[Upcoming]:
    """Every run due in (start, end], in time order: of one job, or of all enabled jobs with
    frequent jobs collapsed."""
    jobs = Job.objects.filter(job_enabled=True, _next_run__isnull=False, _next_run__lte=to_db(end))
    if job is not None:
        jobs = jobs.filter(pk=job.pk)
    per_job = [
        job_rows(one, start, end, collapse=job is None) for one in jobs.prefetch_related(*PREFETCH)
    ]
    return list(heapq.merge(*per_job))


def upcoming_view(model_admin: ModelAdmin, request: HttpRequest) -> HttpResponse:
    """The page: every run due in the chosen range (default: the next 24 h), paginated."""
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    form = UpcomingRangeForm(request.GET or None)
    rows: list[Upcoming] = []
    start = end = None
    status = 200
    chosen = None
    if form.is_bound and not form.is_valid():
        status = 400
    else:
        if not form.is_bound:
            form = UpcomingRangeForm({"hours": 24})
            form.is_valid()
        start, end = form.range()
        chosen = form.cleaned_data.get("job")
        rows = upcoming_runs(start, end, chosen)
    page = Paginator(rows, PAGE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        **model_admin.admin_site.each_context(request),
        "title": "Upcoming runs",
        "opts": model_admin.model._meta,
        "form": form,
        "page": page,
        "rows": page.object_list,
        "row_count": len(rows),
        "run_count": sum(row.count for row in rows),
        "query": query.urlencode(),
        "chosen": chosen,
        "one_job_cap": ONE_JOB,
        "listed": LISTED,
        "start": start,
        "end": end,
        "site_zone": site_zone(),
        "zone_rule": zone_rule(None),
        "presets": UpcomingRangeForm.HOURS,
    }
    return TemplateResponse(request, "admin/akjob/job/upcoming.html", context, status=status)
