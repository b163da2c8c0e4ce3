""" "Upcoming runs" as an entry of its own in the admin's index and sidebar.

The entry is a proxy of the job model (no table); it leads to the page of
:mod:`akjob.admin.upcoming`, open to anyone who may view jobs.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from akjob.models import UpcomingRun


def _may_view_jobs(request: HttpRequest) -> bool:
    user = request.user
    return bool(user.has_perm("akjob.view_job") or user.has_perm("akjob.change_job"))


@admin.register(UpcomingRun)
class UpcomingRunAdmin(admin.ModelAdmin):
    def has_module_permission(self, request: HttpRequest) -> bool:
        return _may_view_jobs(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _may_view_jobs(request)

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
            return super().changelist_view(request, extra_context)  # refuses as the admin does
        target = reverse("admin:akjob_job_upcoming")
        query = request.GET.urlencode()
        return HttpResponseRedirect(f"{target}?{query}" if query else target)
