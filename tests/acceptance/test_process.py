"""A real akjobd, started and stopped by ``manage.py akjobd`` in a throw-away project on SQLite.

Everything is polled with deadlines; signals are real.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from akjob.daemon.pidfile import is_running, read_pid
from tests.acceptance.project import (
    Project,
    alive,
    make_project,
    migrated_database,
    processes_with,
    wait_for,
)

pytestmark = pytest.mark.acceptance

STARTED = re.compile(r"^akjobd started \(pid (\d+)\)$")
ALREADY = re.compile(r"^akjobd is already running (on database \S+ )?\(pid (\d+)\)$")


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return migrated_database(tmp_path_factory.mktemp("base"))


@pytest.fixture
def project(tmp_path: Path, database: Path) -> Iterator[Project]:
    project = make_project(tmp_path / "project", database)
    yield project
    project.kill_all()


def started_pid(project: Project, pid_dir: Path | None = None) -> int:
    result = project.akjobd("start", pid_dir)
    assert result.returncode == 0, result.stderr
    match = STARTED.match(result.stdout.strip())
    assert match, result.stdout + result.stderr
    return int(match.group(1))


def daemons(project: Project) -> list[int]:
    """akjobd processes of this project (the daemon's command line is the one it started with)."""
    return processes_with(str(project.base))


def test_start_status_stop(project: Project) -> None:
    pid = started_pid(project)
    assert project.pid_file.exists()
    assert read_pid(project.pid_file) == pid
    assert is_running(project.pid_file)
    assert alive(pid)
    assert daemons(project) == [pid]

    status = project.akjobd("status")
    assert status.returncode == 0
    assert status.stdout.startswith(f"akjobd is running (pid {pid})\n")

    stop = project.akjobd("stop")
    assert (stop.returncode, stop.stdout.strip()) == (0, f"akjobd stopped (pid {pid})")
    assert not project.pid_file.exists()
    wait_for(lambda: not alive(pid), timeout=10, what="the daemon process to end")
    assert project.akjobd("status").returncode == 3
    assert f"akjobd started (pid {pid})" in (project.log_dir / "akjobd.log").read_text()
    assert f"akjobd stopped (pid {pid})" in (project.log_dir / "akjobd.log").read_text()


def test_daemon_files_and_working_directory(project: Project) -> None:
    project.log_dir.mkdir()
    (project.log_dir / "akjobd.out").write_text("left over from last time\n")
    pid = started_pid(project)
    assert (project.log_dir / "akjobd.out").read_text() == ""  # truncated at each start
    assert (project.log_dir / "akjobd.out.1").read_text() == "left over from last time\n"
    assert (project.log_dir / "akjob.job.log").exists()
    assert Path(f"/proc/{pid}/cwd").resolve() == project.base.resolve()  # BASE_DIR
    assert os.getsid(pid) != os.getsid(0)  # its own session, detached from the terminal
    assert os.getpgid(pid) != os.getpgid(0)
    lock = project.base / "db.sqlite3.akjobd.lock"
    assert read_pid(lock) == pid
    assert project.akjobd("stop").returncode == 0
    assert not lock.exists()


def test_second_start_says_already_running(project: Project) -> None:
    pid = started_pid(project)
    again = project.akjobd("start")
    assert again.returncode == 0
    assert again.stdout.strip() == f"akjobd is already running (pid {pid})"
    assert again.stderr == ""
    assert daemons(project) == [pid]


def test_parallel_starts_make_exactly_one_daemon(project: Project) -> None:
    for _round in range(3):
        with ThreadPoolExecutor(10) as pool:
            results = list(pool.map(lambda _: project.akjobd("start"), range(10)))
        assert all(r.returncode == 0 for r in results), [r.stderr for r in results]
        outputs = [r.stdout.strip() for r in results]
        started = [int(m.group(1)) for o in outputs if (m := STARTED.match(o))]
        already = [int(m.group(2)) for o in outputs if (m := ALREADY.match(o))]
        assert len(started) == 1, outputs
        assert len(already) == 9, outputs
        assert set(already) == set(started)
        one = started
        wait_for(lambda one=one: daemons(project) == one, timeout=10, what=f"one daemon, {one}")
        assert read_pid(project.pid_file) == started[0]
        assert project.akjobd("stop").returncode == 0
        wait_for(lambda: daemons(project) == [], timeout=10, what="no daemon")


def test_kill_9_then_start_takes_over_the_stale_pid_file(project: Project) -> None:
    old = started_pid(project)
    os.kill(old, signal.SIGKILL)
    wait_for(lambda: not alive(old), timeout=10, what="the killed daemon to go")
    assert read_pid(project.pid_file) == old  # stale file left behind
    assert project.akjobd("status").returncode == 3
    new = started_pid(project)
    assert new != old
    assert read_pid(project.pid_file) == new
    assert daemons(project) == [new]


def test_a_live_unrelated_pid_in_the_file_does_not_fool_start(project: Project) -> None:
    project.pid_dir.mkdir()
    project.pid_file.write_text(f"{os.getpid()}\n")
    pid = started_pid(project)
    assert pid != os.getpid()


def test_second_daemon_on_the_same_sqlite_database_refuses(project: Project) -> None:
    pid = started_pid(project)
    other_dir = project.base / "other-run"
    second = project.akjobd("start", other_dir)
    assert second.returncode == 0
    assert second.stdout.strip() == (
        f"akjobd is already running on database {project.db.resolve()} (pid {pid})"
    )
    assert not (other_dir / "akjobd.pid").exists()
    run = project.akjobd("run", other_dir)
    assert run.returncode == 1
    assert "already running on database" in run.stderr
    assert daemons(project) == [pid]
    assert alive(pid)


def test_restart(project: Project) -> None:
    old = started_pid(project)
    result = project.akjobd("restart")
    assert result.returncode == 0, result.stderr
    first, second = result.stdout.strip().splitlines()
    assert first == f"akjobd stopped (pid {old})"
    match = STARTED.match(second)
    assert match
    new = int(match.group(1))
    assert new != old and read_pid(project.pid_file) == new
    wait_for(lambda: daemons(project) == [new], timeout=10, what="only the new daemon")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_run_in_the_foreground_stops_on_a_signal(project: Project, signum: int) -> None:
    with project.popen(*project.akjobd_args("run")) as proc:
        try:
            wait_for(
                lambda: read_pid(project.pid_file) == proc.pid, timeout=20, what="the pid file"
            )
            assert project.akjobd("start").stdout.strip() == (
                f"akjobd is already running (pid {proc.pid})"
            )
            os.kill(proc.pid, signum)
            out, err = proc.communicate(timeout=30)
        finally:
            proc.kill()
    assert proc.returncode == 0, err
    assert out.strip() == "akjobd stopped"
    assert f"akjobd started (pid {proc.pid})" in err  # logs go to stderr too
    assert not project.pid_file.exists()


def test_stop_signals_the_daemon_it_started_with_sigterm(project: Project) -> None:
    """``stop`` uses SIGTERM and waits; the daemon stops the loop and removes its pid file."""
    pid = started_pid(project)
    os.kill(pid, signal.SIGTERM)  # what ``stop`` sends, from somewhere else (systemd, kill)
    wait_for(lambda: not project.pid_file.exists(), timeout=20, what="the pid file to be removed")
    wait_for(lambda: not alive(pid), timeout=10, what="the daemon to end")
    assert project.akjobd("stop").stdout.strip() == "akjobd is not running"


def test_a_daemon_that_cannot_start_says_why_in_one_line(project: Project) -> None:
    blocker = project.base / "not-a-directory"
    blocker.write_text("")
    result = project.manage(
        "akjobd", "start", "-pd", str(project.pid_dir), "-ld", str(blocker), check=False
    )
    assert result.returncode == 1
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "refused by system checks: akjob.E003" in result.stderr
    assert f"log directory {blocker} exists and is not a directory" in result.stderr
    assert not is_running(project.pid_file)
    assert daemons(project) == []
    assert STARTED.match(project.akjobd("start").stdout.strip())  # nothing left in the way


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_runserver_starts_akjobd_and_other_commands_do_not(project: Project) -> None:
    env = dict(project.env)
    del env["AKJOB_START_DAEMON"]
    default_pid_file = project.base / "akjob" / "akjobd.pid"  # BASE_DIR/akjob/akjobd.pid
    checked = subprocess.run(
        project.command("check"), cwd=project.base, env=env, capture_output=True, check=False
    )
    assert checked.returncode == 0
    assert not default_pid_file.exists()
    port = str(free_port())
    with project.popen("runserver", "--noreload", f"127.0.0.1:{port}", env=env) as server:
        try:
            wait_for(
                lambda: read_pid(default_pid_file), timeout=30, what="akjobd started by runserver"
            )
            assert is_running(default_pid_file)
            assert read_pid(default_pid_file) != server.pid
        finally:
            server.terminate()
            server.communicate(timeout=30)
    assert is_running(default_pid_file)  # akjobd outlives the web server
    stop = subprocess.run(
        project.command("akjobd", "stop"),
        cwd=project.base,
        env=env,
        capture_output=True,
        check=False,
    )
    assert stop.returncode == 0
    assert not default_pid_file.exists()


# -- the pid and log options never write over what is not theirs --------------------------------

IMPORTANT = "do not touch: important settings\n"


def refused(project: Project, action: str, *options: str) -> str:
    """Run ``manage.py akjobd action *options``: it must fail with one line on stderr and nothing
    on stdout; return that line."""
    result = project.manage("akjobd", action, *options, check=False)
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    return result.stderr


def test_pid_names_with_a_path_are_refused(project: Project) -> None:
    outside = project.base / "outside.conf"
    outside.write_text(IMPORTANT)
    run_dir = project.base / "run"
    for name in ("../outside.conf", "sub/akjobd.pid", "..", "akjobd..pid"):
        for action in ("start", "stop", "status"):
            err = refused(project, action, "-pd", str(run_dir), "-pn", name)
            assert f"the pid file name {name!r} must be a plain file name" in err, err
    assert outside.read_text() == IMPORTANT
    assert not run_dir.exists()
    assert daemons(project) == []


def test_a_file_that_is_not_a_pid_file_is_left_alone(project: Project) -> None:
    etc = project.base / "etc"
    etc.mkdir()
    (etc / "somefile").write_text("mode=1\n")
    (etc / "bigfile").write_text(IMPORTANT)
    (etc / "link").symlink_to(etc / "bigfile")
    (etc / "subdir").mkdir()
    cases = {"somefile": "holds something else than a process id", "link": "is a symbolic link"}
    cases |= {"bigfile": f"holds {len(IMPORTANT)} bytes", "subdir": "is a directory"}
    for name, problem in cases.items():
        for action in ("start", "run", "restart", "stop", "status"):
            err = refused(project, action, "-pd", str(etc), "-pn", name)
            assert f"{etc / name} {problem}, not an akjobd pid file" in err, err
    assert ((etc / "somefile").read_text(), (etc / "bigfile").read_text()) == (
        "mode=1\n",
        IMPORTANT,
    )
    assert sorted(p.name for p in etc.iterdir()) == ["bigfile", "link", "somefile", "subdir"]
    assert daemons(project) == []


def test_a_log_directory_that_is_not_one_is_left_alone(project: Project) -> None:
    not_a_dir = project.base / "logs-file"
    not_a_dir.write_text(IMPORTANT)
    for action in ("start", "run", "restart"):
        err = refused(project, action, "-pd", str(project.pid_dir), "-ld", str(not_a_dir))
        assert f"log directory {not_a_dir} exists and is not a directory" in err
    logs = project.base / "logs"
    logs.mkdir()
    (logs / "akjobd.out").symlink_to(not_a_dir)
    for action in ("start", "run", "restart"):
        err = refused(project, action, "-pd", str(project.pid_dir), "-ld", str(logs))
        assert f"{logs / 'akjobd.out'} is not a regular file" in err
    assert not_a_dir.read_text() == IMPORTANT
    assert not project.pid_file.exists()
    assert daemons(project) == []


def test_a_removed_pid_file_does_not_hide_the_daemon(project: Project) -> None:
    pid = started_pid(project)
    project.pid_file.unlink()
    status = project.akjobd("status")
    assert (status.returncode, status.stdout.splitlines()[0]) == (
        0,
        f"akjobd is running (pid {pid})",
    )
    again = project.akjobd("start")
    assert (again.returncode, again.stdout.strip()) == (0, f"akjobd is already running (pid {pid})")
    assert daemons(project) == [pid]
    assert not project.pid_file.exists()  # the refused start left nothing behind
    project.pid_file.write_text("")  # another file in its place: the daemon is still found
    stop = project.akjobd("stop")
    assert (stop.returncode, stop.stdout.strip()) == (0, f"akjobd stopped (pid {pid})")
    wait_for(lambda: not alive(pid), timeout=10, what="the daemon to end")
    assert project.pid_file.read_text() == ""  # not its file: left as it was
    assert project.akjobd("status").returncode == 3
    new = started_pid(project)  # and the next daemon starts as usual
    assert read_pid(project.pid_file) == new != pid
    assert project.akjobd("stop").returncode == 0
