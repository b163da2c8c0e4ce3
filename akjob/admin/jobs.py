"""The job list and the job pages.

Permissions are Django's model permissions: the actions that change jobs need
``akjob.change_job``. Job code is made only from registered functions (see
:mod:`akjob.registry`), and no page ever runs a stored code object.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import QuerySet
from django.forms import CheckboxSelectMultiple
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, path
from django.utils.html import format_html

from akjob.admin import job_page, upcoming
from akjob.admin.code_managed import CodeManagedJobAdminMixin
from akjob.admin.common import DASH, status_badge, time_html, zone_of, zone_rule
from akjob.admin.daemons import daemon_banner
from akjob.admin.job_form import FIELDSETS, JobAdminForm, label_parts
from akjob.admin.stored_code import formatted, read
from akjob.exceptions import AkjobError
from akjob.models import Job, JobDates, JobRun
from akjob.text import clock_time


class JobDatesForm(forms.ModelForm):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        label_parts(self)


class JobDatesInline(admin.TabularInline):
    model = JobDates
    form = JobDatesForm
    extra = 0
    verbose_name = "date"
    verbose_name_plural = "dates (a source: the job runs at each; read in the site's time zone)"


class LastRunStatusFilter(admin.SimpleListFilter):
    title = "status of last run"
    parameter_name = "last_status"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        ran = [s for s in JobRun.Status if s not in job_page.NOT_RUN]
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
        kinds = [(kind, kind) for kind in job_page.SOURCE_FILTERS]
        return [*kinds, ("none", "no source")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Job]) -> QuerySet[Job]:
        value = self.value()
        if value in job_page.SOURCE_FILTERS or value == "none":
            return job_page.filter_by_source(queryset, value)
        return queryset


class JobChangeList(ChangeList):
    """The job list prefetches the day sets and dates its schedule column describes.

    (Only the list: a prefetched edit page would reschedule from stale dates after the inline
    saves them.)
    """

    def get_queryset(self, request: HttpRequest, exclude_parameters: Any = None) -> QuerySet:
        queryset = super().get_queryset(request, exclude_parameters)
        return queryset.prefetch_related(*job_page.PREFETCH)


CODE_FIELDS = ("function", "arguments", "keyword_arguments")
SHOWN_CODE = ("function_shown", "arguments_shown", "keyword_arguments_shown")


@admin.register(Job)
class JobAdmin(CodeManagedJobAdminMixin, admin.ModelAdmin):
    form = JobAdminForm
    inlines = [JobDatesInline]
    list_display = (
        "display_name",
        "next_run",
        "last_run",
        "enabled",
        "schedule",
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
        *SHOWN_CODE,
    )
    fieldsets = FIELDSETS

    def get_fieldsets(self, request: HttpRequest, obj: Job | None = None) -> Any:
        if obj is None:  # a new job has no stored code and no housekeeping yet
            fieldsets = [fs for fs in self.fieldsets if not fs[0] or not fs[0].startswith("House")]
            return _without(fieldsets, {"code_object"})
        fieldsets = super().get_fieldsets(request, obj)  # a job declared in code: see the mixin
        if not self.has_change_permission(request, obj):
            # Read-only: the code as stored, in place of the form's fields that would set it.
            names = dict(zip(CODE_FIELDS, SHOWN_CODE, strict=True))
            return [
                (title, {**opts, "fields": [names.get(f, f) for f in opts["fields"]]})
                for title, opts in _without(fieldsets, {"code_object"})
            ]
        return fieldsets

    def get_queryset(self, request: HttpRequest) -> QuerySet[Job]:
        return job_page.with_last_run(super().get_queryset(request)).with_running()

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return JobChangeList

    def get_urls(self) -> list[URLPattern]:
        page = self.admin_site.admin_view(self.upcoming_view)
        own = [path("upcoming/", page, name="akjob_job_upcoming")]
        return own + super().get_urls()

    def upcoming_view(self, request: HttpRequest) -> HttpResponse:
        return upcoming.upcoming_view(self, request)

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        context = {
            "akjob_daemon_banner": daemon_banner(),
            "akjob_zone_rule": zone_rule(None),
            **(extra_context or {}),
        }
        return super().changelist_view(request, context)

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        job = self.get_object(request, object_id) if object_id else None
        context = {**job_page.change_page_context(job), **(extra_context or {})}
        return super().changeform_view(request, object_id, form_url, context)

    def response_add(self, request: HttpRequest, obj: Job, post_url_continue: Any = None) -> Any:
        self._warn(request, obj)
        return super().response_add(request, obj, post_url_continue)

    def response_change(self, request: HttpRequest, obj: Job) -> Any:
        self._warn(request, obj)
        return super().response_change(request, obj)

    def _warn(self, request: HttpRequest, job: Job) -> None:
        """Say so when the saved job (with its dates, saved after it) can never run."""
        warning = job_page.save_warning(Job.objects.get(pk=job.pk))
        if warning:
            self.message_user(request, warning, messages.WARNING)

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
        if job._next_run is not None:
            return time_html(job._next_run, zone_of(job))
        reason = job_page.no_run_reason(job)
        return format_html('<span class="akjob-reason-short">none: {}</span>', reason)

    @admin.display(description="last run", ordering="_last_run")
    def last_run(self, job: Job) -> Any:
        status = getattr(job, "last_status", None)
        if job._last_run is None and status is None:
            return DASH
        shown = time_html(job._last_run, zone_of(job))
        return format_html("{} {}", shown, status_badge(status) if status else "")

    @admin.display(description="runs")
    def runs(self, job: Job) -> str:
        limit = f" of {job.run_count_limit}" if job.run_count_limit is not None else ""
        return f"{job._run_count}{limit}"

    @admin.display(description="running", ordering="running_since")
    def running(self, job: Job) -> Any:
        since = getattr(job, "running_since", None)
        if not job._job_running:
            return ""
        if since is None:
            return status_badge("running")
        return format_html("{} since {}", status_badge("running"), clock_time(since, zone_of(job)))

    # -- read-only fields of the change page ------------------------------------------------

    @admin.display(description="stored code")
    def code_object(self, job: Job) -> str:
        return job_page.code_state(job)

    @admin.display(description="function")
    def function_shown(self, job: Job) -> str:
        stored = read(job._job_code, job=job.pk, version=job._code_version)
        if not stored.path:
            return stored.summary()
        return f"{stored.label()} ({stored.path})" if stored.label() != stored.path else stored.path

    @admin.display(description="arguments")
    def arguments_shown(self, job: Job) -> str:
        stored = read(job._job_code, job=job.pk, version=job._code_version)
        return formatted(stored.args) or DASH

    @admin.display(description="keyword arguments")
    def keyword_arguments_shown(self, job: Job) -> str:
        stored = read(job._job_code, job=job.pk, version=job._code_version)
        return formatted(stored.kwargs) or DASH

    @admin.display(description="runs so far")
    def run_count(self, job: Job) -> int:
        return job._run_count

    @admin.display(description="last run")
    def last_run_at(self, job: Job) -> Any:
        return time_html(job._last_run, zone_of(job))

    @admin.display(description="next run")
    def next_run_at(self, job: Job) -> Any:
        if job._next_run is None:
            return f"none: {job_page.no_run_reason(job)}"
        return time_html(job._next_run, zone_of(job))

    @admin.display(description="running now")
    def running_now(self, job: Job) -> Any:
        return self.running(job) or "no"

    @admin.display(description="interval anchor")
    def interval_anchor(self, job: Job) -> Any:
        return time_html(job._last_interval, zone_of(job))

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
        for pk in queryset.values_list("pk", flat=True):
            request_run(self, request, pk)


def request_run(model_admin: admin.ModelAdmin, request: HttpRequest, job_id: int) -> bool:
    """Ask akjobd to run the job now (the job list's action, a run record's "Run again"), and
    say what came of it; True when the request was taken."""
    from akjob.daemon.runnow import run_job_now

    try:
        message = run_job_now(job_id)
    except AkjobError as exc:
        model_admin.message_user(request, str(exc), messages.ERROR)
        return False
    model_admin.message_user(request, message, messages.INFO)
    return True


def _without(fieldsets: Any, names: set[str]) -> list[tuple[Any, dict[str, Any]]]:
    return [
        (title, {**opts, "fields": [f for f in opts["fields"] if f not in names]})
        for title, opts in fieldsets
    ]
