"""akjobd's own Prometheus metrics, served on ``AKJOB_METRICS_ADDR`` (docs/monitoring.md).

Labels stay bounded. ``status`` has seven values. Job names become a ``job`` label only when
``AKJOB_METRICS_JOB_LABELS`` asks for it, and then only on the two run counters: ``True`` for
every job, a number N for the first N job names this daemon sees (the rest share the label
value ``other``), 0 (the default) for none, and the label is left out. Histograms never carry
job names: each label value would multiply their buckets.
"""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from akjob.conf import akjob_settings
from akjob.metrics import Hooks

OTHER = "other"
# Seconds: from a second to a day, for both how late runs start and how long they take.
BUCKETS = (0.1, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600, 4 * 3600, 24 * 3600)


class JobLabels:
    """Job names as label values, at most ``limit`` distinct ones (True: no limit)."""

    def __init__(self, limit: int | bool) -> None:
        self.limit = limit
        self.seen: set[str] = set()
        self.lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.limit is True or (self.limit is not False and int(self.limit) > 0)

    def __call__(self, claimed: Any) -> str:
        job = getattr(claimed, "job", None)
        name = (getattr(job, "name", "") or f"job {claimed.job_id}")[:100]
        if self.limit is True:
            return name
        with self.lock:
            if name in self.seen:
                return name
            if len(self.seen) < int(self.limit):
                self.seen.add(name)
                return name
        return OTHER


class PrometheusHooks(Hooks):
    """The metrics, in a registry of their own (nothing of the process's default registry)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.labels = JobLabels(akjob_settings.metrics_job_labels)
        job = ["job"] if self.labels.enabled else []
        r = self.registry
        self.started = Counter(
            "akjob_runs_started", "Runs handed to their process.", job, registry=r
        )
        self.finished = Counter(
            "akjob_runs_finished", "Runs ended, by status.", [*job, "status"], registry=r
        )
        self.lateness = Histogram(
            "akjob_run_lateness_seconds",
            "How long after its scheduled time a run started.",
            buckets=BUCKETS,
            registry=r,
        )
        self.duration = Histogram(
            "akjob_run_duration_seconds", "How long runs took.", buckets=BUCKETS, registry=r
        )
        self.claims = Counter("akjob_claims", "Occurrences claimed by this akjobd.", registry=r)
        self.busy = Gauge("akjob_workers_busy", "Runs in progress in this akjobd.", registry=r)
        self.workers = Gauge("akjob_workers", "Runs this akjobd may have at once.", registry=r)
        self.lag = Gauge(
            "akjob_heartbeat_lag_seconds",
            "How late the last heartbeat was, past its interval.",
            registry=r,
        )
        self.db_errors = Counter(
            "akjob_database_errors", "Database errors the loop backed off from.", registry=r
        )
        self.overdue_jobs = Gauge(
            "akjob_overdue_jobs", "Jobs overdue at the last alert check.", registry=r
        )
        self.starts: dict[int, datetime] = {}
        self.fds: tuple[int, ...] = ()
        self.server: Any = None

    @classmethod
    def serving(cls, addr: str) -> PrometheusHooks:
        """Hooks whose metrics are served on ``addr`` ("host:port", ":port" or "port")."""
        hooks = cls()
        host, _, port = addr.rpartition(":")
        server, _thread = start_http_server(int(port), host or "0.0.0.0", hooks.registry)
        hooks.server = server
        hooks.fds = (server.socket.fileno(),)
        return hooks

    def _job(self, claimed: Any) -> list[str]:
        return [self.labels(claimed)] if self.labels.enabled else []

    def run_started(self, claimed: Any, now: datetime) -> None:
        start = max(now, claimed.scheduled)
        self.starts[claimed.run_id] = start
        job = self._job(claimed)
        (self.started.labels(*job) if job else self.started).inc()
        self.lateness.observe(max((now - claimed.scheduled).total_seconds(), 0.0))

    def run_finished(self, claimed: Any, status: str, error: str, ended: datetime) -> None:
        self.finished.labels(*self._job(claimed), str(status)).inc()
        start = self.starts.pop(claimed.run_id, None)
        if start is not None:
            self.duration.observe(max((ended - start).total_seconds(), 0.0))

    def claimed(self, count: int) -> None:
        self.claims.inc(count)

    def heartbeat(self, *, lag: float, busy: int, workers: int) -> None:
        self.lag.set(lag)
        self.busy.set(busy)
        self.workers.set(workers)

    def database_error(self) -> None:
        self.db_errors.inc()

    def overdue(self, count: int) -> None:
        self.overdue_jobs.set(count)
