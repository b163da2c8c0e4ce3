"""The dashboard's entry in the admin (the page itself is :mod:`akjob.dashboard`)."""

from __future__ import annotations

from django.contrib import admin

from akjob.dashboard import DashboardAdmin
from akjob.models import Dashboard

admin.site.register(Dashboard, DashboardAdmin)

__all__ = ["DashboardAdmin"]
