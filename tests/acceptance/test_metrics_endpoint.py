"""A real akjobd serving /metrics (scraped over HTTP, parsed with prometheus-client's parser)
and writing JSON log lines to akjobd.log and akjob.job.log."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.acceptance.project import Project, wait_for
from tests.acceptance.smtp import free_port

pytestmark = pytest.mark.acceptance

SETUP = """
from datetime import datetime, timedelta, UTC
from akjob.models import Job
from tests.acceptance import jobs
for name, code in (("tick", jobs.LogsItself()), ("boom", jobs.Raise())):
    job = Job(name=name, run_every=timedelta(seconds=1))
    job.job_code_object = code
    job.save()
"""


def scrape(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            found[f"{sample.name}{{{labels}}}"] = sample.value
    return found


def answers(port: int) -> dict[str, float] | None:
    try:
        return scrape(port)
    except OSError:
        return None


def test_a_real_akjobd_serves_metrics_and_writes_json_logs(tmp_path: Path):
    port = free_port()
    extra = f'AKJOB_METRICS_ADDR = "127.0.0.1:{port}"\nAKJOB_LOG_FORMAT = "json"\n'
    project = Project(tmp_path, extra=extra, grace=3)
    project.manage("migrate", "--noinput", timeout=180)
    project.shell(SETUP)
    started = project.manage(*project.akjobd_args("start"))
    assert "started" in started.stdout, started.stdout + started.stderr
    try:
        wait_for(lambda: answers(port), timeout=30, what="the metrics endpoint")
        got = wait_for(
            lambda: (
                (m := scrape(port)).get("akjob_runs_finished_total{status=failed}", 0) >= 2
                and m.get("akjob_runs_finished_total{status=succeeded}", 0) >= 2
                and m
            ),
            timeout=60,
            what="two runs of each job",
        )
        assert got["akjob_runs_started_total{}"] >= 4
        assert got["akjob_claims_total{}"] >= 4
        assert got["akjob_run_duration_seconds_count{}"] >= 4
        assert got["akjob_workers{}"] == 4
        assert "akjob_heartbeat_lag_seconds{}" in got
        assert got["akjob_database_errors_total{}"] == 0
        assert not any("job=" in key for key in got)  # no job names unless asked
    finally:
        stop = project.akjobd("stop")
        assert stop.returncode == 0, stop.stdout + stop.stderr
    daemon_lines = [
        json.loads(line) for line in (project.log_dir / "akjobd.log").read_text().splitlines()
    ]
    ended = [line for line in daemon_lines if line.get("status") == "failed"]
    assert ended and {"time", "level", "daemon", "job", "run", "occurrence", "lateness"} <= set(
        ended[0]
    )
    job_lines = [
        json.loads(line) for line in (project.log_dir / "akjob.job.log").read_text().splitlines()
    ]
    warned = [line for line in job_lines if line["message"] == "warning from job code"]
    assert warned and warned[0]["level"] == "WARNING"
    assert isinstance(warned[0]["job"], int) and isinstance(warned[0]["run"], int)
