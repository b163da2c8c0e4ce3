"""akjobd loads changed code without a restart and without dropping a run: a module it imported
at start-up, changed on disk, is what the next runs use; a run in progress goes on and is
recorded; code that does not load is refused and the old code goes on."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from tests.acceptance.project import Project, alive, wait_for

pytestmark = pytest.mark.acceptance

MODULE = """\
VERSION = {version!r}


class Say:
    def __init__(self, path):
        self.path = path

    def run(self, ownjob):
        with open(self.path, "a") as f:
            f.write(VERSION + "\\n")
"""


def write_module(base: Path, text: str) -> None:
    path = base / "reloadjobs.py"
    before = path.stat().st_mtime if path.exists() else 0
    path.write_text(text)
    os.utime(path, (before + 2, before + 2))  # a new mtime even within the same second


def versions(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


def test_changed_code_is_picked_up_without_dropping_a_run(tmp_path: Path):
    write_module(tmp_path, MODULE.format(version="v1"))
    project = Project(tmp_path, extra="import reloadjobs  # akjobd imports it at start-up\n")
    project.manage("migrate", "--noinput")
    said, long_says, gate = tmp_path / "said", tmp_path / "long", tmp_path / "gate"
    out = project.shell(
        f"""
from datetime import datetime, timedelta, UTC
from akjob.models import Job, JobRun
import reloadjobs
from tests.acceptance import jobs
say = Job(name="say", run_every=timedelta(seconds=1))
say.job_code_object = reloadjobs.Say({str(said)!r})
say.save()
long = Job(name="long", dates_list=[datetime.now(UTC) + timedelta(seconds=2)])
long.job_code_object = jobs.Gate({str(long_says)!r}, {str(gate)!r})
long.save()
print(long.pk)
"""
    )
    long_id = int(out.split()[-1])
    try:
        assert "started" in project.manage("akjobd", "start").stdout
        pid = wait_for(lambda: alive(project.pid()) and project.pid(), timeout=15, what="pid")
        wait_for(lambda: "v1" in versions(said), timeout=20, what="runs of the old code")
        wait_for(lambda: versions(long_says), timeout=20, what="the long run to start")

        write_module(tmp_path, MODULE.format(version="v2"))
        wait_for(lambda: "v2" in versions(said), timeout=90, what="runs of the changed code")
        assert project.pid() == pid and alive(pid), "reloading must not restart akjobd"
        log = (project.log_dir / "akjobd.log").read_text()
        assert "code changed on disk" in log and "run(s) in progress adopted" in log
        assert "reloaded its code; 0 run(s)" not in log  # the long run at least was adopted

        # Code that does not load is refused; the code that runs goes on.
        write_module(tmp_path, "VERSION = (\n")
        wait_for(
            lambda: "does not load" in (project.log_dir / "akjobd.log").read_text(),
            timeout=90,
            what="the broken code to be refused",
        )
        seen = len(versions(said))
        wait_for(lambda: len(versions(said)) > seen + 1, timeout=30, what="runs going on")
        assert alive(pid) and versions(said)[-1] == "v2"

        # And `akjobd reload` asks for it by hand.
        write_module(tmp_path, MODULE.format(version="v3"))
        reload = project.manage("akjobd", "reload")
        assert "asked to reload" in reload.stdout
        wait_for(lambda: "v3" in versions(said), timeout=90, what="runs of the fixed code")

        # The long run was never dropped: it finishes, and its outcome is recorded.
        gate.touch()
        (run,) = wait_for(
            lambda: [r for r in project.runs(long_id) if r[0] != "running"],
            timeout=30,
            what="the long run to end",
        )
        assert run[0] == "succeeded", run
        assert versions(long_says) == ["started", "ended"]
        assert project.manage("akjobd", "stop").returncode == 0
        wait_for(lambda: not alive(pid), timeout=10, what="akjobd to exit")
    finally:
        project.kill_all()


def test_reload_and_log_reopen_requests_never_kill_akjobd(tmp_path: Path):
    """``akjobd reload`` and SIGHUP at any moment, also while akjobd is loading its fresh
    program after a change on disk, are requests, never a reason to die."""
    write_module(tmp_path, MODULE.format(version="v1"))
    project = Project(tmp_path, extra="import reloadjobs  # akjobd imports it at start-up\n")
    project.manage("migrate", "--noinput")
    said = tmp_path / "said"
    project.shell(
        f"""
from datetime import timedelta
from akjob.models import Job
import reloadjobs
say = Job(name="say", run_every=timedelta(seconds=1))
say.job_code_object = reloadjobs.Say({str(said)!r})
say.save()
"""
    )
    try:
        assert "started" in project.manage("akjobd", "start").stdout
        pid = wait_for(lambda: alive(project.pid()) and project.pid(), timeout=15, what="pid")
        assert "asked to reload" in project.manage("akjobd", "reload").stdout
        wait_for(lambda: "v1" in versions(said), timeout=30, what="runs of the code")
        log = project.log_dir / "akjobd.log"
        wait_for(lambda: "reloaded its code" in log.read_text(), timeout=60, what="the reload")
        for version in ("v2", "v3"):
            write_module(tmp_path, MODULE.format(version=version))
            # Requests rain in while akjobd notices the change and loads its fresh program.
            deadline = time.monotonic() + 6
            while time.monotonic() < deadline:
                for sig in (signal.SIGUSR1, signal.SIGHUP):
                    os.kill(pid, sig)
                    time.sleep(0.05)
                assert alive(pid), "akjobd died of a reload or reopen request"
            wait_for(lambda v=version: v in versions(said), timeout=90, what=f"runs of {version}")
        assert project.pid() == pid and alive(pid)
        assert project.manage("akjobd", "stop").returncode == 0
        wait_for(lambda: not alive(pid), timeout=30, what="akjobd to exit")
    finally:
        project.kill_all()
