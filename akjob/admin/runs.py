"""The run history: one record per run, missed or skipped occurrence; read-only, re-runnable."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.views.decorators.http import require_POST

from akjob.admin.common import DASH, status_badge, time_html, zone_of
from akjob.admin.jobs import request_run
from akjob.models import Job, JobRun
from akjob.text import duration, error_line, run_duration, task_state


class JobNameFilter(admin.SimpleListFilter):
    """By the job's name as recorded on its runs (stable, and kept after the job is deleted)."""

    title = "job"
    parameter_name = "job_name"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        names = JobRun.objects.order_by("job_name").values_list("job_name", flat=True).distinct()
        return [(name, name) for name in names if name]

    def queryset(self, request: HttpRequest, queryset: QuerySet[JobRun]) -> QuerySet[JobRun]:
        value = self.value()
        return queryset.filter(job_name=value) if value else queryset


class TaskStatusFilter(admin.SimpleListFilter):
    """By the task's status; shown only when some run was handed to a task backend."""

    title = "task status"
    parameter_name = "task_status"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        found = JobRun.objects.exclude(task_status="").order_by("task_status")
        values = found.values_list("task_status", flat=True).distinct()
        return [(value, value.lower()) for value in values]

    def queryset(self, request: HttpRequest, queryset: QuerySet[JobRun]) -> QuerySet[JobRun]:
        value = self.value()
        return queryset.filter(task_status=value) if value else queryset


@admin.register(JobRun)
class JobRunAdmin(admin.ModelAdmin):
    list_display = ("scheduled_at", "job_link", "outcome", "started_at", "took")
    list_filter = ("status", JobNameFilter, TaskStatusFilter, "scheduled")
    search_fields = ("job_name", "error")
    date_hierarchy = "scheduled"
    list_select_related = ("job",)
    fields = (
        "job_link",
        "job_name",
        "status",
        "scheduled_at",
        "started_at",
        "finished_at",
        "took",
        "missed_count",
        "attempt",
        "retry_at_time",
        "waited_for",
        "error_text",
        "host",
        "pid",
        "daemon",
        "task_backend",
        "task_result_id",
        "task_status",
    )
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: JobRun | None = None) -> bool:
        return False

    def get_urls(self) -> list[URLPattern]:
        again = self.admin_site.admin_view(require_POST(self.run_again_view))
        own = [path("<int:run_id>/run-again/", again, name="akjob_jobrun_run_again")]
        return own + super().get_urls()

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        run = self.get_object(request, object_id)
        context = {
            "akjob_can_run_again": bool(run and run.job_id and _may_run(request)),
            **(extra_context or {}),
        }
        return super().change_view(request, object_id, form_url, context)

    def run_again_view(self, request: HttpRequest, run_id: int) -> HttpResponse:
        """ "Run again": the same request to akjobd as the job list's "Run selected jobs now"."""
        if not _may_run(request):
            raise PermissionDenied
        run = get_object_or_404(JobRun, pk=run_id)
        back = reverse("admin:akjob_jobrun_change", args=[run.pk])
        if run.job_id is None or not Job.objects.filter(pk=run.job_id).exists():
            self.message_user(request, "The job of this run was deleted.", "error")
            return HttpResponseRedirect(back)
        request_run(self, request, run.job_id)
        return HttpResponseRedirect(back)

    # -- columns -------------------------------------------------------------------------------

    @admin.display(description="scheduled", ordering="scheduled")
    def scheduled_at(self, run: JobRun) -> Any:
        return time_html(run.scheduled, zone_of(run.job))

    @admin.display(description="started", ordering="started")
    def started_at(self, run: JobRun) -> Any:
        return time_html(run.started, zone_of(run.job))

    @admin.display(description="finished", ordering="finished")
    def finished_at(self, run: JobRun) -> Any:
        return time_html(run.finished, zone_of(run.job))

    @admin.display(description="retry at")
    def retry_at_time(self, run: JobRun) -> Any:
        """When the next attempt of a failed run is due (none once it is made or dropped)."""
        return time_html(run.retry_at, zone_of(run.job))

    @admin.display(description="waited for the run before it")
    def waited_for(self, run: JobRun) -> str:
        return duration(run.waited) if run.waited is not None else DASH

    @admin.display(description="duration")
    def took(self, run: JobRun) -> str:
        return run_duration(run).replace("-", DASH)

    @admin.display(description="job", ordering="job_name")
    def job_link(self, run: JobRun) -> str:
        name = run.job_name or (f"job {run.job_id}" if run.job_id else "deleted job")
        if run.job_id is None:
            return name
        url = reverse("admin:akjob_job_change", args=[run.job_id])
        return format_html('<a href="{}">{}</a>', url, name)

    @admin.display(description="outcome", ordering="status")
    def outcome(self, run: JobRun) -> SafeString:
        """The status, the task's state, and the error's essential line below them."""
        task = task_state(run)
        shown = status_badge(run.status)
        if task:
            shown = format_html('{} <span class="akjob-task">{}</span>', shown, task)
        if run.attempt > 1:
            shown = format_html("{} (attempt {})", shown, run.attempt)
        if run.retry_at is not None:
            shown = format_html("{}, retry at {}", shown, self.retry_at_time(run))
        line = error_line(run.error)
        if line:
            shown = format_html('{}<div class="akjob-error-line">{}</div>', shown, line)
        return shown

    @admin.display(description="error")
    def error_text(self, run: JobRun) -> str:
        if not run.error:
            return DASH
        return format_html('<pre class="akjob-error">{}</pre>', run.error)


def _may_run(request: HttpRequest) -> bool:
    return bool(request.user.has_perm("akjob.change_job"))
