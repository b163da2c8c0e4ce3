"""A real akjobd, started with ``manage.py akjobd start`` on a throw-away project, runs jobs."""

from __future__ import annotations

import os
import signal
import time

import pytest

from tests.acceptance.jobs import marker_lines
from tests.acceptance.project import Project, alive, wait_for

pytestmark = pytest.mark.acceptance

SETUP = """
from datetime import datetime, timedelta, UTC
from akjob.models import Job, JobCallable
from tests.acceptance import jobs
now = datetime.now(UTC)
def make(name, code, **fields):
    job = Job(name=name, **fields)
    job.job_code_object = code
    job.save()
    print(name, job.pk)
"""


def ids(output: str) -> dict[str, int]:
    return {line.split()[0]: int(line.split()[1]) for line in output.splitlines() if line.strip()}


@pytest.fixture
def project(tmp_path):
    project = Project(tmp_path)
    project.manage("migrate", "--noinput")
    yield project
    pid = project.pid()
    if alive(pid):
        os.kill(pid, signal.SIGKILL)


def start(project: Project) -> int:
    out = project.manage("akjobd", "start")
    assert "started" in out.stdout or "already running" in out.stdout, out.stdout
    return wait_for(lambda: alive(project.pid()) and project.pid(), timeout=15, what="akjobd pid")


def test_jobs_run_fail_and_the_daemon_goes_on(project, tmp_path):
    marker = tmp_path / "marks"
    out = project.shell(
        SETUP
        + f"""
make("JobTest", jobs.JobTest(), run_every=timedelta(seconds=1))
make("printer", JobCallable(print, "hello-from-akjob", flush=True),
     run_every=timedelta(seconds=1), run_count_limit=1)
make("raiser", jobs.Raise(), run_every=timedelta(seconds=1), run_count_limit=1)
make("exiter", jobs.HardExit(), run_every=timedelta(seconds=1), run_count_limit=1)
make("hanger", jobs.Hang(), run_every=timedelta(seconds=1), run_count_limit=1,
     timeout=timedelta(seconds=1))
make("marker", jobs.Mark({str(marker)!r}), run_every=timedelta(seconds=1))
"""
    )
    job = ids(out)
    start(project)

    def finished(name):
        rows = project.runs(job[name])
        return rows and rows[0][0] != "running" and rows[0]

    status, error = wait_for(lambda: finished("raiser"), timeout=20, what="raiser's run")
    assert status == "failed" and "ValueError: acceptance failure" in error
    status, error = wait_for(lambda: finished("exiter"), timeout=20, what="exiter's run")
    assert status == "failed" and "status 7" in error
    status, error = wait_for(lambda: finished("hanger"), timeout=20, what="hanger's run")
    assert status == "timed out" and "1 s" in error

    # The seed's JobTest renames its job five times, then deletes it.
    wait_for(
        lambda: not project.sql("SELECT id FROM akjob_job WHERE id = ?", job["JobTest"]),
        timeout=30,
        what="JobTest to delete its job",
    )
    log = (project.log_dir / "akjob.job.log").read_text()
    assert "Changing the name to JobTest12345" in log
    assert "Scheduling job to be deleted: JobTest12345" in log

    wait_for(
        lambda: "hello-from-akjob" in (project.log_dir / "akjobd.out").read_text(),
        timeout=10,
        what="print output in akjobd.out",
    )
    # The daemon went on after every failure: the marker job keeps running.
    before = len(marker_lines(marker))
    wait_for(lambda: len(marker_lines(marker)) >= before + 2, timeout=10, what="more marks")

    # A job saved while the daemon runs, due 2 s later, fires on time.
    late = tmp_path / "late"
    out = project.shell(
        SETUP
        + f"""
when = (now + timedelta(seconds=2)).replace(microsecond=0)
make("saved-later", jobs.Mark({str(late)!r}), dates_list=[when])
print("when", int(when.timestamp()))
"""
    )
    when = ids(out)["when"]
    (started,) = wait_for(lambda: marker_lines(late), timeout=10, what="the new job's run")
    assert 0 <= started - when < 0.5, f"started {started - when:.3f} s after its time"

    stop = project.manage("akjobd", "stop")
    assert stop.returncode == 0
    assert not (project.pid_dir / "akjobd.pid").exists()


def test_kill_9_mid_run_then_start_again(project, tmp_path):
    marker = tmp_path / "marks"
    out = project.shell(
        SETUP + f'make("slow", jobs.Mark({str(marker)!r}, sleep=4), run_every=timedelta(seconds=3))'
    )
    job = ids(out)["slow"]
    pid = start(project)
    wait_for(lambda: marker_lines(marker), timeout=15, what="the slow job to start")
    assert project.runs(job)[-1][0] == "running"
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not alive(pid), timeout=5, what="the daemon to die")

    start(project)
    rows = wait_for(
        lambda: [r for r in project.runs(job) if r[0] == "interrupted"],
        timeout=15,
        what="the killed run to be recorded interrupted",
    )
    assert "died" in rows[0][1]
    wait_for(lambda: len(marker_lines(marker)) >= 2, timeout=15, what="the job to run again")
    assert project.manage("akjobd", "stop").returncode == 0


def test_stop_is_graceful(tmp_path):
    project = Project(tmp_path, grace=3)
    project.manage("migrate", "--noinput")
    short, long_ = tmp_path / "short", tmp_path / "long"
    out = project.shell(
        SETUP
        + f"""
when = (now + timedelta(seconds=2)).replace(microsecond=0)
make("short", jobs.Mark({str(short)!r}, sleep=1.5), dates_list=[when])
make("long", jobs.Mark({str(long_)!r}, sleep=60), dates_list=[when])
"""
    )
    job = ids(out)
    try:
        pid = start(project)
        wait_for(lambda: marker_lines(short) and marker_lines(long_), timeout=15, what="starts")
        began = time.monotonic()
        stop = project.manage("akjobd", "stop")
        took = time.monotonic() - began
        assert stop.returncode == 0, stop.stderr
        assert not alive(pid)
        assert not (project.pid_dir / "akjobd.pid").exists()
        assert project.runs(job["short"])[0][0] == "succeeded"
        status, error = project.runs(job["long"])[0]
        assert status == "interrupted" and "stopped" in error
        assert took < 3 + 5 + 5, f"stop took {took:.1f} s"
    finally:
        if alive(project.pid()):
            os.kill(project.pid(), signal.SIGKILL)
