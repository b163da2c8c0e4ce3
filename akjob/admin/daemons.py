"""The akjobd daemons: which are alive, which stopped, which crashed (no heartbeat, no stop)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.safestring import SafeString

from akjob.admin.common import DASH, status_badge, time_html
from akjob.conf import akjob_settings
from akjob.models import DaemonRecord
from akjob.text import duration
from akjob.timeutil import to_aware, to_db, utcnow


def stale_before(now: datetime) -> datetime:
    """A heartbeat older than this is a daemon that is gone (as akjobd itself judges)."""
    return now - timedelta(seconds=2 * akjob_settings.heartbeat + akjob_settings.poll)


def state(record: DaemonRecord, now: datetime) -> str:
    """``running``, ``stopped`` or ``crashed`` (it stopped beating without saying so)."""
    if record.stopped is not None:
        return "stopped"
    beat = to_aware(record.heartbeat)
    return "running" if beat is not None and beat >= stale_before(now) else "crashed"


def daemon_banner(now: datetime | None = None) -> str:
    """What the job list says when no akjobd is alive; "" when one is."""
    now = now or utcnow()
    alive = DaemonRecord.objects.filter(
        stopped__isnull=True, heartbeat__gte=to_db(stale_before(now))
    )
    if alive.exists():
        return ""
    last = DaemonRecord.objects.order_by("-heartbeat").first()
    if last is None:
        return (
            "No akjobd is running, and none ever ran: no job runs until one is started "
            "(manage.py akjobd start)."
        )
    ago = _since(last.heartbeat, now)
    return (
        f"No akjobd is running: no job runs until one is started (manage.py akjobd start). "
        f"The last heartbeat was {ago} ago."
    )


def _since(value: datetime, now: datetime) -> str:
    return duration(now.replace(microsecond=0) - to_aware(value).replace(microsecond=0))


@admin.register(DaemonRecord)
class DaemonRecordAdmin(admin.ModelAdmin):
    list_display = ("__str__", "daemon_state", "host", "pid", "started_at", "last_heartbeat")
    list_filter = ("host",)
    fields = ("host", "pid", "daemon_state", "started_at", "last_heartbeat", "stopped_at")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="state")
    def daemon_state(self, record: DaemonRecord) -> SafeString:
        now = utcnow()
        shown = state(record, now)
        if shown != "crashed":
            return status_badge(shown)
        silent = duration(
            now.replace(microsecond=0) - to_aware(record.heartbeat).replace(microsecond=0)
        )
        return format_html("{} (silent for {})", status_badge("crashed"), silent)

    @admin.display(description="started", ordering="started")
    def started_at(self, record: DaemonRecord) -> Any:
        return time_html(record.started, _zone())

    @admin.display(description="last heartbeat", ordering="heartbeat")
    def last_heartbeat(self, record: DaemonRecord) -> Any:
        return time_html(record.heartbeat, _zone())

    @admin.display(description="stopped", ordering="stopped")
    def stopped_at(self, record: DaemonRecord) -> Any:
        if record.stopped is None:
            return DASH if state(record, utcnow()) == "running" else "never said so: it crashed"
        return time_html(record.stopped, _zone())


def _zone() -> Any:
    from akjob.admin.common import site_zone

    return site_zone()
