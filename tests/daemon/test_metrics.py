"""Metrics and spans fed by the loop (clock moved by hand, runs inline), the cluster view from
the database, and JSON log lines; everything parsed back with the libraries' own readers."""

from __future__ import annotations

import json
import logging
from datetime import timedelta

import pytest
from django.test import Client
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from akjob import log
from akjob.daemon.loop import Daemon
from akjob.daemon.supervisor import InlineSupervisor
from akjob.metrics.daemon import PrometheusHooks
from akjob.models import DaemonRecord, Job
from tests.daemon import jobcode
from tests.daemon.steps import T0, make

pytestmark = pytest.mark.django_db


def samples(text: str) -> dict[tuple[str, tuple], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def run_three(clock, hooks) -> None:
    """Two jobs every 10 s (one failing), run twice, then a heartbeat."""
    make(name="good", run_every=timedelta(seconds=10))
    make(jobcode.Boom(), name="bad", run_every=timedelta(seconds=10))
    daemon = Daemon(clock=clock, supervisor=InlineSupervisor(size=4), max_workers=4)
    daemon.hooks = hooks
    for step in (1, 2):
        clock.set(T0 + timedelta(seconds=10 * step))
        daemon.run_once(clock.now())


def test_runs_are_counted_by_status_without_job_names_by_default(clock):
    hooks = PrometheusHooks()
    run_three(clock, hooks)
    got = samples(generate_latest(hooks.registry).decode())
    assert got[("akjob_runs_started_total", ())] == 4
    assert got[("akjob_runs_finished_total", (("status", "succeeded"),))] == 2
    assert got[("akjob_runs_finished_total", (("status", "failed"),))] == 2
    assert got[("akjob_claims_total", ())] == 4
    assert got[("akjob_run_lateness_seconds_count", ())] == 4
    assert got[("akjob_run_duration_seconds_count", ())] == 4
    assert got[("akjob_workers", ())] == 4
    assert not any("job" in dict(labels) for _, labels in got)


def test_job_names_as_labels_are_bounded(clock, settings):
    settings.AKJOB_METRICS_JOB_LABELS = 1
    hooks = PrometheusHooks()
    run_three(clock, hooks)
    got = samples(generate_latest(hooks.registry).decode())
    started = {
        dict(labels)["job"]: v
        for (name, labels), v in got.items()
        if name.endswith("runs_started_total")
    }
    assert started == {"good": 2, "other": 2}  # the first name seen, then "other"


def test_all_job_names_when_asked(clock, settings):
    settings.AKJOB_METRICS_JOB_LABELS = True
    hooks = PrometheusHooks()
    run_three(clock, hooks)
    got = samples(generate_latest(hooks.registry).decode())
    assert got[("akjob_runs_finished_total", (("job", "bad"), ("status", "failed")))] == 2


def test_the_cluster_view_reads_the_database(clock):
    run_three(clock, PrometheusHooks())
    DaemonRecord.objects.update(heartbeat=clock.now())
    response = Client().get("/akjob/metrics/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    got = samples(response.content.decode())
    good, bad = Job.objects.get(name="good"), Job.objects.get(name="bad")
    key = (("job", "good"), ("job_id", str(good.pk)))
    assert (
        got[("akjob_job_last_success_timestamp_seconds", key)]
        == (T0 + timedelta(seconds=20)).timestamp()
    )
    assert (
        got[("akjob_job_next_run_timestamp_seconds", key)]
        == (T0 + timedelta(seconds=30)).timestamp()
    )
    bad_key = (("job", "bad"), ("job_id", str(bad.pk)))
    assert ("akjob_job_last_success_timestamp_seconds", bad_key) not in got
    assert got[("akjob_job_failing", bad_key)] == 1
    assert got[("akjob_job_overdue", bad_key)] == 0
    assert got[("akjob_daemons", (("state", "alive"),))] == 1


def test_spans_around_each_run(clock):
    pytest.importorskip("opentelemetry.sdk")
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from akjob.metrics.otel import SpanHooks

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    run_three(clock, SpanHooks(provider.get_tracer("akjob")))
    spans = exporter.get_finished_spans()
    assert len(spans) == 4 and {s.name for s in spans} == {"akjob.run"}
    by_status = sorted(
        (s.attributes["akjob.job.name"], s.attributes["akjob.run.status"]) for s in spans
    )
    assert by_status == [("bad", "failed")] * 2 + [("good", "succeeded")] * 2
    failed = next(s for s in spans if s.attributes["akjob.run.status"] == "failed")
    assert not failed.status.is_ok and "boom from the job" in failed.status.description
    assert all(isinstance(s.attributes["akjob.run.id"], int) for s in spans)


def test_json_log_lines(clock, settings, tmp_path):
    settings.AKJOB_LOG_FORMAT = "json"
    log.reset()
    log.configure_daemon_logging(tmp_path)
    try:
        run_three(clock, PrometheusHooks())
        logging.getLogger("akjob.daemon").warning("plain words")
    finally:
        log.reset()
    lines = [json.loads(line) for line in (tmp_path / log.DAEMON_LOG).read_text().splitlines()]
    ended = [line for line in lines if line.get("status")]
    assert len(ended) == 4
    first = ended[0]
    assert {"time", "level", "logger", "message", "daemon", "job", "run", "occurrence"} <= set(
        first
    )
    assert first["occurrence"] == (T0 + timedelta(seconds=10)).isoformat()
    assert first["lateness"] == 0.0
    assert lines[-1]["message"] == "plain words" and "job" not in lines[-1]
