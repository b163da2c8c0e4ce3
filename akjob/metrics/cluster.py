"""The cluster's view from the database, in Prometheus's text format (the ``metrics/`` view of
:mod:`akjob.urls`): one scrape of any web process instead of one per akjobd.

Per job (labels ``job_id`` and ``job``, one series per job the project has): the last success,
the last failure, the next run (Unix times), whether it is overdue, whether it is failing. For
the cluster: akjobd processes by state, runs in progress and stuck, the due backlog. See
docs/monitoring.md.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import Max
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from akjob.timeutil import to_aware

FAILED = ("failed", "timed out")


class ClusterCollector:
    """Reads the database at each collection; ``now`` is the time the numbers are for."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def collect(self) -> Any:
        from akjob import health
        from akjob.models import Job, JobRun

        data = health.snapshot(self.now)
        daemons = GaugeMetricFamily("akjob_daemons", "akjobd processes by state.", labels=["state"])
        for state in ("alive", "dead", "stopped"):
            count = sum(1 for d in data["daemons"] if d["state"] == state)
            daemons.add_metric([state], count)
        yield daemons
        yield GaugeMetricFamily(
            "akjob_runs_in_progress", "Runs in progress.", value=data["runs_in_progress"]
        )
        yield GaugeMetricFamily(
            "akjob_runs_stuck", "Runs in progress past their lease.", value=data["runs_stuck"]
        )
        yield GaugeMetricFamily(
            "akjob_due_backlog", "Jobs due and not started.", value=data["due_backlog"]
        )
        overdue = {o["job"] for o in data["overdue"]}
        ok = _latest(JobRun.objects.filter(status="succeeded"))
        bad = _latest(JobRun.objects.filter(status__in=FAILED))
        labels = ["job_id", "job"]
        families = {
            "success": GaugeMetricFamily(
                "akjob_job_last_success_timestamp_seconds",
                "When the job's last successful run ended (Unix time).",
                labels=labels,
            ),
            "failure": GaugeMetricFamily(
                "akjob_job_last_failure_timestamp_seconds",
                "When the job's last failed or timed-out run ended (Unix time).",
                labels=labels,
            ),
            "next": GaugeMetricFamily(
                "akjob_job_next_run_timestamp_seconds",
                "The job's next run time (Unix time).",
                labels=labels,
            ),
            "overdue": GaugeMetricFamily(
                "akjob_job_overdue", "1 when the job is overdue (alert_after).", labels=labels
            ),
            "failing": GaugeMetricFamily(
                "akjob_job_failing", "1 when the job's latest run failed.", labels=labels
            ),
        }
        rows = Job.objects.order_by("pk").values_list("pk", "name", "_next_run", "_failing_since")
        for pk, name, nxt, failing in rows:
            key = [str(pk), name or ""]
            if pk in ok:
                families["success"].add_metric(key, ok[pk])
            if pk in bad:
                families["failure"].add_metric(key, bad[pk])
            if nxt is not None:
                families["next"].add_metric(key, to_aware(nxt).timestamp())
            families["overdue"].add_metric(key, 1 if pk in overdue else 0)
            families["failing"].add_metric(key, 1 if failing is not None else 0)
        yield from families.values()


def _latest(runs: Any) -> dict[int, float]:
    found = runs.filter(finished__isnull=False, job__isnull=False)
    rows = found.values("job_id").annotate(last=Max("finished")).values_list("job_id", "last")
    return {job_id: to_aware(last).timestamp() for job_id, last in rows}


def exposition(now: datetime) -> tuple[bytes, str]:
    """The text to serve, and its content type."""
    registry = CollectorRegistry()
    registry.register(ClusterCollector(now))
    return generate_latest(registry), CONTENT_TYPE_LATEST
