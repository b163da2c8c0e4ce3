"""One lazy accessor for the ``AKJOB_*`` settings, with every default in one place.

Settings are read when asked for, never at import time, so ``override_settings`` works.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, timedelta, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured

DEFAULTS: dict[str, Any] = {
    "AKJOB_PID_DIR": None,  # BASE_DIR/akjob
    "AKJOB_PID_NAME": "akjobd.pid",
    "AKJOB_LOG_DIR": None,  # BASE_DIR/akjob/logs
    "AKJOB_MAX_WORKERS": 4,
    "AKJOB_RUNS_KEPT": 100,
    "AKJOB_HEARTBEAT": timedelta(seconds=10),
    "AKJOB_LEASE": timedelta(seconds=60),
    "AKJOB_STOP_GRACE": timedelta(seconds=30),
    "AKJOB_POLL": timedelta(seconds=1),
    "AKJOB_LOOKAHEAD": timedelta(seconds=0.5),
    "AKJOB_DAEMONS": 1,  # how many akjobd processes share the database (feeds a system check)
    "AKJOB_START_TIMEOUT": timedelta(seconds=30),  # how long ``start`` waits for a heartbeat
    "AKJOB_OUT_KEEP": 5,  # earlier akjobd.out files kept (akjobd.out.1 … akjobd.out.N)
    "AKJOB_ALERT_CHECK": timedelta(seconds=30),  # how often akjobd looks for overdue jobs
    "AKJOB_ALERT_EMAILS": None,  # addresses of alert mails; None: Django's ADMINS
    "AKJOB_METRICS_ADDR": None,  # "host:port" where akjobd serves /metrics; None: off
    "AKJOB_METRICS_JOB_LABELS": 0,  # job names used as metric labels (0: none, True: all)
    "AKJOB_LOG_FORMAT": "text",  # or "json": one JSON object per line in akjob's log files
    "AKJOB_OTEL": False,  # OpenTelemetry spans around runs (needs akjob[otel])
    "AKJOB_CATCH_UP_MAX": 100,  # occurrences a job with catch_up "all" runs after a gap
    "AKJOB_DEFAULT_TIMEZONE": "UTC",  # the zone of jobs that name none; "TIME_ZONE": Django's
    "AKJOB_SCHEDULES": {},  # schedules declared in settings, by key (docs/schedules-in-code.md)
    "AKJOB_SYNC_REMOVED": "disable",  # a sync disables ("disable") or deletes ("delete") a job
}

# The value of AKJOB_DEFAULT_TIMEZONE that stands for Django's TIME_ZONE setting.
DJANGO_TIME_ZONE = "TIME_ZONE"

# Environment variables that override the settings (the seed's launch options).
ENVIRON = {
    "AKJOB_METRICS_ADDR": "AKJOB_METRICS_ADDR",
    "AKJOB_LOG_FORMAT": "AKJOB_LOG_FORMAT",
    "AKJOB_PID_DIR": "AKJOB_PID_DIR",
    "AKJOB_PID_NAME": "AKJOB_PID_NAME",
    "AKJOB_LOG_DIR": "AKJOB_LOG_DIR",
}


def _get(name: str) -> Any:
    if name in ENVIRON and os.environ.get(ENVIRON[name]):
        return os.environ[ENVIRON[name]]
    return getattr(django_settings, name, DEFAULTS[name])


def _seconds(value: Any) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


@dataclass(frozen=True)
class _Settings:
    """Typed views of the settings; each property reads the live setting."""

    @property
    def base_dir(self) -> Path:
        return Path(getattr(django_settings, "BASE_DIR", os.getcwd()))

    @property
    def pid_dir(self) -> Path:
        return Path(_get("AKJOB_PID_DIR") or self.base_dir / "akjob")

    @property
    def pid_name(self) -> str:
        return str(_get("AKJOB_PID_NAME"))

    @property
    def log_dir(self) -> Path:
        return Path(_get("AKJOB_LOG_DIR") or self.base_dir / "akjob" / "logs")

    @property
    def max_workers(self) -> int:
        return int(_get("AKJOB_MAX_WORKERS"))

    @property
    def runs_kept(self) -> int:
        return int(_get("AKJOB_RUNS_KEPT"))

    @property
    def heartbeat(self) -> float:
        return _seconds(_get("AKJOB_HEARTBEAT"))

    @property
    def lease(self) -> float:
        return _seconds(_get("AKJOB_LEASE"))

    @property
    def stop_grace(self) -> float:
        return _seconds(_get("AKJOB_STOP_GRACE"))

    @property
    def poll(self) -> float:
        return _seconds(_get("AKJOB_POLL"))

    @property
    def lookahead(self) -> float:
        return _seconds(_get("AKJOB_LOOKAHEAD"))

    @property
    def start_timeout(self) -> float:
        return _seconds(_get("AKJOB_START_TIMEOUT"))

    @property
    def catch_up_max(self) -> int:
        """How many late occurrences a job with ``catch_up = "all"`` runs at most (at least 1)."""
        return max(int(_get("AKJOB_CATCH_UP_MAX")), 1)

    @property
    def out_keep(self) -> int:
        return int(_get("AKJOB_OUT_KEEP"))

    @property
    def alert_check(self) -> float:
        return _seconds(_get("AKJOB_ALERT_CHECK"))

    @property
    def metrics_addr(self) -> str | None:
        return _get("AKJOB_METRICS_ADDR") or None

    @property
    def metrics_job_labels(self) -> int | bool:
        """How many job names may become metric labels: True for all, 0 for none."""
        value = _get("AKJOB_METRICS_JOB_LABELS")
        return value if isinstance(value, bool) else int(value)

    @property
    def log_format(self) -> str:
        return str(_get("AKJOB_LOG_FORMAT"))

    @property
    def otel(self) -> bool:
        return bool(_get("AKJOB_OTEL"))

    @property
    def schedules(self) -> Any:
        """``AKJOB_SCHEDULES`` as set (checked where it is read, by akjob.declare)."""
        return _get("AKJOB_SCHEDULES") or {}

    @property
    def sync_removed(self) -> str:
        """``AKJOB_SYNC_REMOVED``: "disable" or "delete"; ImproperlyConfigured otherwise."""
        value = _get("AKJOB_SYNC_REMOVED")
        if value not in ("disable", "delete"):
            raise ImproperlyConfigured(
                f"AKJOB_SYNC_REMOVED must be one of disable, delete, not {value!r}"
            )
        return str(value)

    @property
    def default_timezone_name(self) -> str:
        """The IANA name ``AKJOB_DEFAULT_TIMEZONE`` stands for ("TIME_ZONE": Django's setting)."""
        name = _get("AKJOB_DEFAULT_TIMEZONE")
        if name == DJANGO_TIME_ZONE:
            name = getattr(django_settings, "TIME_ZONE", None) or "UTC"
        return str(name)

    @property
    def default_timezone(self) -> tzinfo:
        """The zone of jobs whose ``timezone`` is empty (see docs/schedule.md)."""
        return zone_named(self.default_timezone_name)


def zone_named(name: str) -> tzinfo:
    """``UTC`` or the IANA zone ``name``; ImproperlyConfigured for an unknown one."""
    if name == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
        raise ImproperlyConfigured(
            f"AKJOB_DEFAULT_TIMEZONE: {name!r} is not a known IANA time zone"
        ) from exc


akjob_settings = _Settings()
