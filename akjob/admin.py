"""akjob in the Django admin: jobs (with their run times), the run history, akjobd processes.

Permissions are Django's model permissions: the actions that change jobs need
``akjob.change_job``; run records are read-only. Job code is made only from registered
functions (see :mod:`akjob.registry`), and no page ever unpickles a stored code object.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.utils import display_for_value
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import QuerySet
from django.forms import CheckboxSelectMultiple
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html

from akjob import admin_views
from akjob.admin_code import CodeManagedJobAdminMixin
from akjob.admin_forms import JobAdminForm
from akjob.cli import error_line, task_state
from akjob.dashboard import DashboardAdmin
from akjob.exceptions import AkjobError
from akjob.models import DaemonRecord, Dashboard, Job, JobDates, JobRun

DASH = "\u2014"


class JobDatesInline(admin.TabularInline):
    model = JobDates
    extra = 0
    verbose_name = "date"
    verbose_name_plural = "dates (a source: the job runs at each)"


class LastRunStatusFilter(admin.SimpleListFilter):
    title = "status of last run"
    parameter_name = "last_status"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        ran = [s for s in JobRun.Status if s not in admin_views.NOT_RUN]
        return [(s.value, s.label) for s in ran] + [("never", "never ran")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Job]) -> QuerySet[Job]:
        value = self.value()
        if value == "never":
            return queryset.filter(last_status__isnull=True)
        if value:
            return queryset.filter(last_status=value)
        return queryset


class SourceKindFilter(admin.SimpleListFilter):
    title = "source"
    parameter_name = "source"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        kinds = [(kind, kind) for kind in admin_views.SOURCE_FILTERS]
        return [*kinds, ("none", "no source")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Job]) -> QuerySet[Job]:
        value = self.value()
        if value in admin_views.SOURCE_FILTERS or value == "none":
            return admin_views.filter_by_source(queryset, value)
        return queryset


class JobChangeList(ChangeList):
    """The job list prefetches the day sets and dates its schedule column describes.

    (Only the list: a prefetched edit page would reschedule from stale dates after the inline
    saves them.)
    """

    def get_queryset(self, request: HttpRequest, exclude_parameters: Any = None) -> QuerySet:
        queryset = super().get_queryset(request, exclude_parameters)
        return queryset.prefetch_related(*admin_views.PREFETCH)


def status_badge(status: str) -> str:
    """A run status, coloured by the stylesheet of akjob's admin templates."""
    css = status.replace(" ", "-")
    return format_html('<span class="akjob-status akjob-{}">{}</span>', css, status)


def _when(value: Any) -> Any:
    return value if value is not None else DASH


@admin.register(Job)
class JobAdmin(CodeManagedJobAdminMixin, admin.ModelAdmin):
    form = JobAdminForm
    inlines = [JobDatesInline]
    list_display = (
        "display_name",
        "enabled",
        "schedule",
        "next_run",
        "last_run",
        "runs",
        "running",
    )
    list_display_links = ("display_name",)
    list_filter = ("job_enabled", LastRunStatusFilter, SourceKindFilter)
    search_fields = ("name", "cron", "timezone")
    actions = ("enable_jobs", "disable_jobs", "run_now")
    formfield_overrides = {models.ManyToManyField: {"widget": CheckboxSelectMultiple}}
    readonly_fields = (
        "code_object",
        "run_count",
        "last_run_at",
        "next_run_at",
        "running_now",
        "interval_anchor",
    )
    fieldsets = (
        (None, {"fields": ("name",)}),
        (
            "Sources",
            {
                "fields": (
                    "run_every",
                    "weekly_days",
                    "weekly_time",
                    "monthly_days",
                    "monthly_time",
                    "cron",
                ),
                "description": "The job runs at the union of these; dates are listed below.",
            },
        ),
        (
            "Limits",
            {
                "fields": (
                    "job_enabled",
                    "run_count_limit",
                    ("active_time_begin", "active_time_end"),
                    "active_weekly_days",
                    "active_monthly_days",
                    "active_months",
                    ("active_date_begin", "active_date_end"),
                ),
                "description": "A run time must pass every limit that is set.",
            },
        ),
        (
            "Calendars, places in the month, jitter, catch-up",
            {
                "fields": (
                    "month_positions",
                    "business_days_only",
                    "holidays",
                    "exclude_dates",
                    "jitter",
                    "catch_up",
                ),
                "description": "Places in the month run at monthly_time. Holidays, excluded "
                "dates and business days are limits, read in the job's time zone. Jitter moves "
                "each run later by a fixed amount of up to its value (docs/schedule.md). Catch-up "
                "says what happens to occurrences missed while no akjobd ran (docs/daemon.md).",
            },
        ),
        (
            "Time zone",
            {
                "fields": (
                    "timezone",
                    "weekly_time_tz_offset_timedelta",
                    "monthly_time_tz_offset_timedelta",
                    "active_time_tz_offset_timedelta",
                ),
                "description": "An IANA zone (with daylight saving time), or fixed offsets "
                "such as -07:00:00; the offsets must stay zero when a zone is set.",
            },
        ),
        (
            "Execution",
            {
                "fields": (
                    "function",
                    "arguments",
                    "keyword_arguments",
                    "code_object",
                    "timeout",
                    "misfire_grace",
                    "alert_after",
                    "deleteme",
                ),
            },
        ),
        (
            "Housekeeping (written by akjob)",
            {
                "fields": (
                    ("run_count", "running_now"),
                    ("last_run_at", "next_run_at"),
                    "interval_anchor",
                ),
                "classes": ("collapse",),
            },
        ),
    )

    def get_fieldsets(self, request: HttpRequest, obj: Job | None = None) -> Any:
        if obj is not None:
            return super().get_fieldsets(request, obj)
        # A new job has no stored code and no housekeeping yet.
        fieldsets = [fs for fs in self.fieldsets if not fs[0] or not fs[0].startswith("House")]
        return [
            (title, {**opts, "fields": [f for f in opts["fields"] if f != "code_object"]})
            for title, opts in fieldsets
        ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Job]:
        return admin_views.with_last_run(super().get_queryset(request)).with_running()

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return JobChangeList

    def get_urls(self) -> list[URLPattern]:
        upcoming = self.admin_site.admin_view(self.upcoming_view)
        own = [path("upcoming/", upcoming, name="akjob_job_upcoming")]
        return own + super().get_urls()

    def upcoming_view(self, request: HttpRequest) -> HttpResponse:
        return admin_views.upcoming_view(self, request)

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        job = self.get_object(request, object_id)
        context = {**admin_views.change_page_context(job), **(extra_context or {})}
        return super().change_view(request, object_id, form_url, context)

    # -- columns -------------------------------------------------------------------------------

    @admin.display(description="name", ordering="name")
    def display_name(self, job: Job) -> str:
        return job.name or f"job {job.pk}"

    @admin.display(description="enabled", boolean=True, ordering="job_enabled")
    def enabled(self, job: Job) -> bool:
        return job.job_enabled

    @admin.display(description="schedule")
    def schedule(self, job: Job) -> str:
        return job.describe()

    @admin.display(description="next run", ordering="_next_run")
    def next_run(self, job: Job) -> Any:
        return job._next_run

    @admin.display(description="last run", ordering="_last_run")
    def last_run(self, job: Job) -> Any:
        status = getattr(job, "last_status", None)
        if job._last_run is None and status is None:
            return DASH
        shown = display_for_value(job._last_run, DASH)
        return format_html("{} {}", shown, status_badge(status) if status else "")

    @admin.display(description="runs")
    def runs(self, job: Job) -> str:
        limit = f" / {job.run_count_limit}" if job.run_count_limit is not None else ""
        return f"{job._run_count}{limit}"

    @admin.display(description="running", boolean=True, ordering="running_since")
    def running(self, job: Job) -> bool:
        return job._job_running

    # -- read-only fields of the change page ------------------------------------------------

    @admin.display(description="current code")
    def code_object(self, job: Job) -> str:
        return admin_views.code_state(job)

    @admin.display(description="run count")
    def run_count(self, job: Job) -> int:
        return job._run_count

    @admin.display(description="last run")
    def last_run_at(self, job: Job) -> Any:
        return _when(job._last_run)

    @admin.display(description="next run")
    def next_run_at(self, job: Job) -> Any:
        return _when(job._next_run)

    @admin.display(description="running", boolean=True)
    def running_now(self, job: Job) -> bool:
        return job._job_running

    @admin.display(description="interval anchor")
    def interval_anchor(self, job: Job) -> Any:
        return _when(job._last_interval)

    # -- actions -------------------------------------------------------------------------------

    def _set_enabled(self, request: HttpRequest, queryset: QuerySet[Job], enabled: bool) -> None:
        done = 0
        for job in queryset:
            job.job_enabled = enabled
            try:
                job.save()
            except ValidationError as exc:
                self.message_user(request, f"{job.name or job.pk}: {exc}", messages.ERROR)
            else:
                done += 1
        state = "enabled" if enabled else "disabled"
        self.message_user(request, f"{done} job(s) {state}.", messages.SUCCESS)

    @admin.action(description="Enable selected jobs", permissions=["change"])
    def enable_jobs(self, request: HttpRequest, queryset: QuerySet[Job]) -> None:
        self._set_enabled(request, queryset, True)

    @admin.action(description="Disable selected jobs", permissions=["change"])
    def disable_jobs(self, request: HttpRequest, queryset: QuerySet[Job]) -> None:
        self._set_enabled(request, queryset, False)

    @admin.action(description="Run selected jobs now", permissions=["change"])
    def run_now(self, request: HttpRequest, queryset: QuerySet[Job]) -> None:
        from akjob.daemon.runnow import run_job_now

        for pk in queryset.values_list("pk", flat=True):
            try:
                message = run_job_now(pk)
            except AkjobError as exc:
                self.message_user(request, str(exc), messages.ERROR)
            else:
                self.message_user(request, message, messages.INFO)


@admin.register(JobRun)
class JobRunAdmin(admin.ModelAdmin):
    list_display = ("scheduled", "job_link", "run_status", "started", "finished", "error_summary")
    list_filter = (
        "status",
        "task_status",
        ("job", admin.RelatedOnlyFieldListFilter),
        "scheduled",
    )
    search_fields = ("job_name", "error")
    date_hierarchy = "scheduled"
    list_select_related = ("job",)
    fields = (
        "job_link",
        "job_name",
        "status",
        "scheduled",
        "started",
        "finished",
        "missed_count",
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

    @admin.display(description="job", ordering="job_name")
    def job_link(self, run: JobRun) -> str:
        name = run.job_name or (f"job {run.job_id}" if run.job_id else "deleted job")
        if run.job_id is None:
            return name
        url = reverse("admin:akjob_job_change", args=[run.job_id])
        return format_html('<a href="{}">{}</a>', url, name)

    @admin.display(description="status", ordering="status")
    def run_status(self, run: JobRun) -> str:
        task = task_state(run)
        if not task:
            return status_badge(run.status)
        return format_html('{} <span class="akjob-task">{}</span>', status_badge(run.status), task)

    @admin.display(description="error")
    def error_summary(self, run: JobRun) -> str:
        return error_line(run.error) or DASH

    @admin.display(description="error")
    def error_text(self, run: JobRun) -> str:
        if not run.error:
            return DASH
        return format_html('<pre class="akjob-error">{}</pre>', run.error)


@admin.register(DaemonRecord)
class DaemonRecordAdmin(admin.ModelAdmin):
    list_display = ("__str__", "host", "pid", "started", "heartbeat", "stopped")
    list_filter = ("host",)
    readonly_fields = ("host", "pid", "started", "heartbeat", "stopped")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


admin.site.register(Dashboard, DashboardAdmin)
