"""Health with a real akjobd: the health view and ``akjobd status --json`` while akjobd is
alive (200), after it is killed with SIGKILL (dead, 503) and after a clean stop (stopped, 503)."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from tests.acceptance.project import Project, alive, wait_for

pytestmark = pytest.mark.acceptance

GET = """
from django.test import Client
r = Client(HTTP_HOST="localhost").get("/akjob/health/")
import json
print(r.status_code, json.dumps([d["state"] for d in json.loads(r.content)["daemons"]]))
"""


def health(project: Project) -> tuple[int, list[str]]:
    code, states = project.shell(GET).strip().split(" ", 1)
    return int(code), json.loads(states)


def status_json(project: Project) -> tuple[int, dict]:
    result = project.manage(*project.akjobd_args("status"), "--json", check=False)
    return result.returncode, json.loads(result.stdout)


def test_health_follows_a_real_akjobd(tmp_path: Path):
    project = Project(tmp_path, grace=3)  # heartbeat 1 s, lease 3 s
    project.manage("migrate", "--noinput", timeout=180)
    assert health(project) == (503, [])
    started = project.manage(*project.akjobd_args("start"))
    assert "started" in started.stdout, started.stdout + started.stderr
    pid = wait_for(project.pid, timeout=15, what="the pid file")
    assert health(project) == (200, ["alive"])
    code, data = status_json(project)
    assert code == 0 and data["local"]["running"] and data["local"]["pid"] == pid
    assert data["daemons"][0]["pid"] == pid and data["healthy"] is True

    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not alive(pid), timeout=15, what="akjobd to die")
    code, states = wait_for(
        lambda: (h := health(project))[1] == ["dead"] and h, timeout=30, what="dead"
    )
    assert code == 503
    code, data = status_json(project)
    assert code == 3 and data["local"]["running"] is False and data["status"] == "down"

    started = project.manage(*project.akjobd_args("start"))
    assert "started" in started.stdout, started.stdout + started.stderr
    # The new akjobd finds its dead predecessor on this host and records it stopped.
    assert wait_for(lambda: (h := health(project))[0] == 200 and h, timeout=30, what="200")
    stop = project.akjobd("stop")
    assert stop.returncode == 0, stop.stdout + stop.stderr
    code, states = health(project)
    assert code == 503 and "alive" not in states and "stopped" in states
