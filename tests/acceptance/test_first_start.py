"""A newcomer's first hour with a real akjobd: start refuses bad settings and an unmigrated
database, says "started" only once the daemon heartbeats and why not otherwise; runserver that
cannot serve starts no akjobd; job code's own log lines land in akjob.job.log; each start keeps
the previous akjobd.out."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from akjob.daemon.pidfile import is_running
from tests.acceptance.project import (
    Project,
    alive,
    migrated_database,
    processes_with,
    wait_for,
)

pytestmark = pytest.mark.acceptance

STARTED = re.compile(r"^akjobd started \(pid (\d+)\)$")


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return migrated_database(tmp_path_factory.mktemp("base"))


@pytest.fixture
def make(tmp_path: Path, database: Path) -> Iterator:
    """Make a project with extra settings (and the migrated database, unless ``migrated``)."""
    made: list[Project] = []

    def make(extra: str = "", *, migrated: bool = True, quick: bool = True) -> Project:
        base = tmp_path / f"project{len(made)}"
        project = Project(base, extra=extra, quick=quick)
        if migrated:
            shutil.copyfile(database, project.db)
        made.append(project)
        return project

    yield make
    for project in made:
        project.kill_all()


def start(project: Project) -> int:
    result = project.akjobd("start")
    match = STARTED.match(result.stdout.strip())
    assert result.returncode == 0 and match, result.stdout + result.stderr
    return int(match.group(1))


def nothing_runs(project: Project) -> bool:
    return not is_running(project.pid_file) and processes_with(str(project.base)) == []


# -- refused before anything is forked ------------------------------------------------------------


@pytest.mark.parametrize("action", ["start", "run"])
def test_bad_settings_are_refused_with_the_checks_messages(make, action: str) -> None:
    project = make('AKJOB_POLL = "fast"\nAKJOB_MAX_WORKERS = 0\n')
    result = project.akjobd(action)
    assert result.returncode == 1 and result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "akjob.E001: AKJOB_POLL = 'fast' is not a positive" in result.stderr
    assert "akjob.E001: AKJOB_MAX_WORKERS = 0 is not an int >= 1" in result.stderr
    assert nothing_runs(project)
    assert not project.log_dir.exists()


@pytest.mark.parametrize("action", ["start", "run"])
def test_an_unmigrated_database_is_refused(make, action: str) -> None:
    project = make(migrated=False)
    result = project.akjobd(action)
    assert result.returncode == 1
    assert "akjob's migrations are not applied" in result.stderr
    assert "python manage.py migrate" in result.stderr
    assert nothing_runs(project)


# -- "started" means heartbeating ----------------------------------------------------------------


def test_started_means_the_first_heartbeat_is_written(make) -> None:
    project = make(quick=False)
    pid = start(project)
    rows = project.sql("SELECT pid FROM akjob_daemonrecord WHERE stopped IS NULL")
    assert rows == [(pid,)]  # no waiting: start has waited for it
    assert project.akjobd("stop").returncode == 0


def test_a_daemon_that_cannot_heartbeat_is_stopped_and_says_why(make) -> None:
    project = make("AKJOB_START_TIMEOUT = 3\n")
    project.sql(
        "CREATE TRIGGER no_daemons BEFORE INSERT ON akjob_daemonrecord "
        "BEGIN SELECT RAISE(ABORT, 'daemons are not welcome here'); END"
    )
    result = project.akjobd("start")
    assert result.returncode == 1, result.stdout
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "akjobd did not start (pid" in result.stderr
    assert "no heartbeat within 3 s (AKJOB_START_TIMEOUT)" in result.stderr
    assert "akjobd.log: database error" in result.stderr
    assert "daemons are not welcome here" in result.stderr
    wait_for(lambda: nothing_runs(project), timeout=20, what="the silent daemon to be stopped")


# -- autostart only from a server that serves ----------------------------------------------------


def test_runserver_on_a_port_in_use_starts_no_akjobd(make) -> None:
    project = make()
    env = {k: v for k, v in project.env.items() if k != "AKJOB_START_DAEMON"}
    default_pid_file = project.base / "akjob" / "akjobd.pid"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = subprocess.run(
            project.command("runserver", "--noreload", f"127.0.0.1:{port}"),
            cwd=project.base,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert server.returncode != 0
    assert "already in use" in server.stderr
    # An akjobd start launched by the failed server would still be running (or its daemon).
    assert processes_with(str(project.base)) == []
    assert not is_running(default_pid_file)
    assert not (project.base / "akjob" / "logs").exists()


# -- logs and output -----------------------------------------------------------------------------

MAKE_JOB = """
from datetime import timedelta
from akjob.models import Job
from tests.acceptance.jobs import LogsItself
job = Job(name="logs", run_every=timedelta(seconds=1), run_count_limit=1)
job.job_code_object = LogsItself()
job.save()
print(job.pk)
"""


def test_job_code_loggers_reach_akjob_job_log_and_starts_keep_akjobd_out(make) -> None:
    project = make()
    job_id = int(project.shell(MAKE_JOB).strip())
    first = start(project)
    wait_for(lambda: project.runs(job_id) == [("succeeded", "")], timeout=30, what="the run")
    assert project.akjobd("stop").returncode == 0
    wait_for(lambda: not alive(first), timeout=20, what="the first daemon to end")
    ((run_id,),) = project.sql("SELECT id FROM akjob_jobrun WHERE job_id = ?", job_id)

    job_log = (project.log_dir / "akjob.job.log").read_text()
    for level, text in (("INFO", "info from job code"), ("WARNING", "warning from job code")):
        line = rf"^\S+ \S+ {level} tests\.acceptance\.jobs \[job {job_id} run {run_id} pid \d+\] "
        assert re.search(line + re.escape(text) + "$", job_log, re.M), job_log
    out = project.log_dir / "akjobd.out"
    assert "printed by job code" in out.read_text()
    assert "from job code" not in out.read_text()  # no bare log lines in the output

    second = start(project)
    assert second != first
    assert "printed by job code" in (project.log_dir / "akjobd.out.1").read_text()
    assert "printed by job code" not in out.read_text()  # each start begins empty
    assert project.akjobd("stop").returncode == 0
    third = start(project)  # nothing printed since: the empty one is not kept
    assert "printed by job code" in (project.log_dir / "akjobd.out.1").read_text()
    assert project.akjobd("stop").returncode == 0
    assert third != second
