"""The cluster's health as the database tells it: daemons, runs in progress, backlog, overdue jobs.

One snapshot serves ``akjobd status --json``, the health view (:mod:`akjob.views`), the
django-health-check plugin (:mod:`akjob.contrib.health_check`), the metrics view and the admin
dashboard. Nothing here reads the clock: every function takes ``now``. See docs/monitoring.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from akjob.conf import akjob_settings
from akjob.timeutil import to_aware, to_db

RECENT_STOPPED = timedelta(hours=24)  # stopped daemons listed, at most this long after the stop


@dataclass(frozen=True)
class DaemonState:
    """One akjobd as recorded: ``state`` is alive, dead (no heartbeat within the lease and not
    stopped: crashed, killed, or its host is gone) or stopped (it stopped cleanly)."""

    id: int
    host: str
    pid: int
    started: datetime
    heartbeat: datetime
    stopped: datetime | None
    state: str
    lag: float  # seconds since its last heartbeat

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "host": self.host,
            "pid": self.pid,
            "state": self.state,
            "started": _iso(self.started),
            "heartbeat": _iso(self.heartbeat),
            "stopped": _iso(self.stopped),
            "heartbeat_lag_seconds": round(self.lag, 3),
        }


def daemons(now: datetime, *, lease: float | None = None) -> list[DaemonState]:
    """Daemons not stopped, and those stopped within the last day, newest heartbeat first."""
    from django.db.models import Q

    from akjob.models import DaemonRecord

    lease = akjob_settings.lease if lease is None else lease
    recent = Q(stopped__isnull=True) | Q(stopped__gte=to_db(now - RECENT_STOPPED))
    found = []
    for record in DaemonRecord.objects.filter(recent).order_by("-heartbeat"):
        beat = to_aware(record.heartbeat)
        lag = max((now - beat).total_seconds(), 0.0)
        if record.stopped is not None:
            state = "stopped"
        else:
            state = "alive" if lag <= lease else "dead"
        found.append(
            DaemonState(
                record.pk,
                record.host,
                record.pid,
                to_aware(record.started),
                beat,
                to_aware(record.stopped),
                state,
                lag,
            )
        )
    return found


def snapshot(now: datetime) -> dict[str, Any]:
    """The health of the cluster at ``now``, as plain JSON-ready data. ``healthy`` is whether at
    least one akjobd is alive; ``status`` is ``ok``, ``degraded`` (alive, but jobs are overdue
    or runs are stuck) or ``down`` (no akjobd alive)."""
    from akjob import alerts
    from akjob.models import Job, JobRun

    found = daemons(now)
    alive = [d for d in found if d.state == "alive"]
    running = JobRun.objects.filter(status=JobRun.Status.RUNNING)
    stuck = running.filter(lease_until__lt=to_db(now))
    due = Job.objects.due(now)
    oldest = due.order_by("_next_run").values_list("_next_run", flat=True).first()
    overdue = alerts.overdue_jobs(now)
    failing = Job.objects.filter(_failing_since__isnull=False).values("pk", "name")
    status = "down" if not alive else ("degraded" if overdue or stuck.exists() else "ok")
    return {
        "status": status,
        "healthy": bool(alive),
        "checked_at": _iso(now),
        "daemons": [d.as_dict() for d in found],
        "daemons_alive": len(alive),
        "runs_in_progress": running.count(),
        "runs_stuck": stuck.count(),
        "due_backlog": due.count(),
        "oldest_due_seconds": round((now - to_aware(oldest)).total_seconds(), 3)
        if oldest is not None
        else None,
        "overdue": [
            {
                "job": o.job_id,
                "name": o.job_name,
                "since": _iso(o.since),
                "late_seconds": round(o.late.total_seconds(), 3),
            }
            for o in overdue
        ],
        "failing": [{"job": row["pk"], "name": row["name"]} for row in failing],
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None
