"""The admin dashboard: one page that says whether jobs run (see docs/monitoring.md).

Daemons (alive, dead with their last heartbeat, stopped), overdue and failing jobs, runs in
progress and stuck ones, and the last 24 hours as two charts (:mod:`akjob.charts`): runs per
hour by status, lateness p50/p99 per hour. It appears in the admin index as "Dashboard"
(:class:`DashboardAdmin`, registered for the proxy model :class:`akjob.models.Dashboard`) and
is linked from the job list. Viewing it needs the permission to view jobs.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.safestring import mark_safe

from akjob import alerts, charts, health
from akjob.timeutil import to_aware, to_db, utcnow

HOURS = 24
STATUSES = ("succeeded", "failed", "timed out", "interrupted", "missed", "skipped", "running")


@dataclass(frozen=True)
class Hourly:
    """The last ``HOURS`` whole hours up to now's hour: labels, runs by status, lateness."""

    labels: list[str]
    counts: list[dict[str, int]]
    p50: list[float | None]
    p99: list[float | None]


def hourly(now: datetime, hours: int = HOURS) -> Hourly:
    """Runs per hour by status (each run counted in the hour of its scheduled time) and the
    lateness (start minus scheduled time, in seconds) p50 and p99 of the runs started each hour,
    over the ``hours`` hours ending with the current one (UTC)."""
    from akjob.models import JobRun

    last = now.replace(minute=0, second=0, microsecond=0)
    first = last - timedelta(hours=hours - 1)
    counts: list[Counter[str]] = [Counter() for _ in range(hours)]
    late: list[list[float]] = [[] for _ in range(hours)]
    rows = JobRun.objects.filter(
        scheduled__gte=to_db(first), scheduled__lt=to_db(last + timedelta(hours=1))
    ).values_list("scheduled", "started", "status")
    for scheduled, started, status in rows.iterator(chunk_size=2000):
        scheduled = to_aware(scheduled)
        slot = int((scheduled - first).total_seconds() // 3600)
        if not 0 <= slot < hours:
            continue
        counts[slot][status] += 1
        if started is not None:
            late[slot].append(max((to_aware(started) - scheduled).total_seconds(), 0.0))
    p50: list[float | None] = []
    p99: list[float | None] = []
    for values in late:
        values.sort()
        p50.append(charts.percentile(values, 0.5) if values else None)
        p99.append(charts.percentile(values, 0.99) if values else None)
    labels = [f"{(first + timedelta(hours=i)).hour:02d}:00" for i in range(hours)]
    return Hourly(labels, [dict(c) for c in counts], p50, p99)


def context(now: datetime) -> dict[str, Any]:
    """Everything the page shows, at ``now``."""
    from akjob.models import Job, JobRun

    daemons = health.daemons(now)
    running = list(
        JobRun.objects.filter(status=JobRun.Status.RUNNING)
        .order_by("started")
        .values("id", "job_id", "job_name", "scheduled", "started", "lease_until", "host")
    )
    for run in running:
        lease = to_aware(run["lease_until"])
        run["stuck"] = lease is not None and lease < now
        started = to_aware(run["started"])
        run["for_seconds"] = int((now - started).total_seconds()) if started else None
    failing = [
        {"pk": pk, "name": name, "since": to_aware(since)}
        for pk, name, since in Job.objects.filter(_failing_since__isnull=False)
        .order_by("_failing_since")
        .values_list("pk", "name", "_failing_since")
    ]
    data = hourly(now)
    return {
        "now": now,
        "daemons": daemons,
        "alive": [d for d in daemons if d.state == "alive"],
        "overdue": alerts.overdue_jobs(now),
        "failing": failing,
        "running": running,
        "stuck": [r for r in running if r["stuck"]],
        "runs_chart": mark_safe(  # drawn by akjob.charts, which escapes the data
            charts.runs_per_hour(data.labels, data.counts, "Runs per hour by status (UTC)")
        ),
        "lateness_chart": mark_safe(  # drawn by akjob.charts, which escapes the data
            charts.lateness_per_hour(
                data.labels,
                {"p50": data.p50, "p99": data.p99},
                "Start lateness per hour, p50 and p99 (UTC)",
            )
        ),
        "runs_total": sum(sum(c.values()) for c in data.counts),
    }


class DashboardAdmin(admin.ModelAdmin):
    """The dashboard in place of a list: nothing to add, change or delete."""

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_active and request.user.has_perm("akjob.view_job")

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        if not self.has_view_permission(request):
            from django.core.exceptions import PermissionDenied

            raise PermissionDenied
        page = {
            **self.admin_site.each_context(request),
            **context(utcnow()),
            "opts": self.model._meta,
            "title": "akjob dashboard",
        }
        return TemplateResponse(request, "admin/akjob/dashboard.html", page)
