"""Health: the snapshot, the view's 200/503 with daemons alive, dead and stopped, ``akjobd status
--json``, and the django-health-check plugin."""

from __future__ import annotations

import asyncio
import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from akjob.health import snapshot
from akjob.models import DaemonRecord, Job, JobCallable, JobRun

pytestmark = pytest.mark.django_db
NOW = datetime(2027, 6, 7, 9, 0, 0, tzinfo=UTC)


@pytest.fixture
def frozen(time_machine):
    time_machine.move_to(NOW, tick=False)


def daemon(beat_ago: float, *, stopped: bool = False, host: str = "web1") -> DaemonRecord:
    beat = NOW - timedelta(seconds=beat_ago)
    return DaemonRecord.objects.create(
        host=host,
        pid=4242,
        started=NOW - timedelta(hours=1),
        heartbeat=beat,
        stopped=beat if stopped else None,
    )


def get_health() -> tuple[int, dict]:
    response = Client().get("/akjob/health/")
    assert response["Content-Type"] == "application/json"
    return response.status_code, json.loads(response.content)


def test_no_daemon_ever_is_503(frozen):
    status, data = get_health()
    assert status == 503 and data["status"] == "down" and data["daemons"] == []


def test_an_alive_daemon_is_200(frozen):
    daemon(3)
    status, data = get_health()
    assert status == 200 and data["status"] == "ok" and data["daemons_alive"] == 1
    (shown,) = data["daemons"]
    assert shown["state"] == "alive" and shown["heartbeat_lag_seconds"] == 3.0
    assert shown["heartbeat"] == "2027-06-07T08:59:57Z"


def test_a_dead_daemon_is_503_and_shown_dead(frozen):
    daemon(61)  # beyond the 60 s lease
    status, data = get_health()
    assert status == 503 and [d["state"] for d in data["daemons"]] == ["dead"]


def test_a_stopped_daemon_is_503_and_shown_stopped(frozen):
    daemon(5, stopped=True)
    status, data = get_health()
    assert status == 503 and [d["state"] for d in data["daemons"]] == ["stopped"]


def test_alive_with_an_overdue_job_is_degraded_but_200(frozen):
    daemon(1)
    job = Job(name="nightly", alert_after=timedelta(minutes=5))
    job.job_code_object = JobCallable(print)
    job.save()
    Job.objects.filter(pk=job.pk).update(_next_run=NOW - timedelta(minutes=10))
    status, data = get_health()
    assert status == 200 and data["status"] == "degraded"
    assert data["overdue"] == [
        {"job": job.pk, "name": "nightly", "since": "2027-06-07T08:50:00Z", "late_seconds": 600.0}
    ]
    assert data["due_backlog"] == 1 and data["oldest_due_seconds"] == 600.0


def test_runs_in_progress_and_stuck_are_counted(frozen):
    owner = daemon(1)
    job = Job(name="long")
    job.job_code_object = JobCallable(print)
    job.save()
    JobRun.objects.create(
        job=job,
        scheduled=NOW - timedelta(minutes=3),
        started=NOW - timedelta(minutes=3),
        status=JobRun.Status.RUNNING,
        running_for=job.pk,
        daemon=owner,
        lease_until=NOW - timedelta(seconds=1),
    )
    data = snapshot(NOW)
    assert data["runs_in_progress"] == 1 and data["runs_stuck"] == 1
    assert data["status"] == "degraded"


def test_the_view_refuses_other_methods(frozen):
    assert Client().post("/akjob/health/").status_code == 405


def test_status_json_reports_the_cluster_and_the_local_daemon(frozen, tmp_path):
    daemon(2)
    out = io.StringIO()
    with pytest.raises(CommandError) as info:  # no akjobd runs from this pid directory
        call_command("akjobd", "status", "--json", "-pd", str(tmp_path), stdout=out)
    assert info.value.returncode == 3
    assert str(info.value) == "akjobd is not running"
    data = json.loads(out.getvalue())
    assert data["daemons_alive"] == 1 and data["local"]["running"] is False


def test_the_health_check_plugin(frozen):
    pytest.importorskip("health_check")
    from health_check.exceptions import ServiceUnavailable, ServiceWarning

    from akjob.contrib.health_check import Akjob

    # The library runs a check in a thread of its own; here it is called in this thread so it
    # sees the test's transaction.
    def run():
        try:
            Akjob().run()
        except Exception as exc:  # noqa: BLE001
            return exc
        return None

    assert isinstance(run(), ServiceUnavailable)
    daemon(1)
    assert run() is None
    job = Job(name="nightly", alert_after=timedelta(minutes=5))
    job.job_code_object = JobCallable(print)
    job.save()
    Job.objects.filter(pk=job.pk).update(_next_run=NOW - timedelta(minutes=10))
    assert isinstance(run(), ServiceWarning)


@pytest.mark.django_db(transaction=True)
def test_the_health_check_plugin_in_the_library_s_own_thread(frozen):
    pytest.importorskip("health_check")
    from health_check.exceptions import ServiceUnavailable

    from akjob.contrib.health_check import Akjob

    assert isinstance(asyncio.run(Akjob().get_result()).error, ServiceUnavailable)
    daemon(1)
    assert asyncio.run(Akjob().get_result()).error is None
