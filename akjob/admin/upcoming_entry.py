"""The "Upcoming runs" entry of its own in the admin's index and sidebar.

The entry is a proxy of the job model (no table); it leads to the page of
:mod:`akjob.admin.upcoming`, open to anyone who may view jobs. Like the dashboard's entry, it
has nothing to add, change or delete.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from akjob.dashboard import DashboardAdmin
from akjob.models import UpcomingRun


@admin.register(UpcomingRun)
class UpcomingRunAdmin(DashboardAdmin):
    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        target = reverse("admin:akjob_job_upcoming")
        query = request.GET.urlencode()
        return HttpResponseRedirect(f"{target}?{query}" if query else target)
