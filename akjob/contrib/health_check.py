"""A check for django-health-check (``pip install akjob[health]``).

List it among the checks of the library's view::

    path("ht/", HealthCheckView.as_view(checks=[..., "akjob.contrib.health_check.Akjob"]))

It fails (unavailable) when no akjobd is alive, and warns when jobs are overdue or runs are
stuck (see docs/monitoring.md).
"""

from __future__ import annotations

import dataclasses
import threading

from django.db import connections
from health_check.base import HealthCheck
from health_check.exceptions import ServiceUnavailable, ServiceWarning

from akjob.health import snapshot
from akjob.timeutil import utcnow


@dataclasses.dataclass
class Akjob(HealthCheck):
    """akjobd alive (at least one), no job overdue, no run stuck."""

    def run(self) -> None:
        try:
            data = snapshot(utcnow())
        finally:
            if threading.current_thread() is not threading.main_thread():
                connections.close_all()  # the library's worker thread: leave no connection
        if not data["healthy"]:
            raise ServiceUnavailable("no akjobd is alive")
        if data["overdue"]:
            raise ServiceWarning(f"{len(data['overdue'])} job(s) overdue")
        if data["runs_stuck"]:
            raise ServiceWarning(f"{data['runs_stuck']} run(s) stuck past their lease")
