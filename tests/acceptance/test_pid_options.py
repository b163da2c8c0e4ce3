"""akjobd's pid and log options never write over what is not theirs, and a removed pid file
does not hide a running akjobd (docs/daemon.md). Real ``manage.py akjobd`` processes."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from akjob.daemon.pidfile import read_pid
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
IMPORTANT = "do not touch: important settings\n"


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return migrated_database(tmp_path_factory.mktemp("base"))


@pytest.fixture
def project(tmp_path: Path, database: Path) -> Iterator[Project]:
    project = make_project(tmp_path / "project", database)
    yield project
    project.kill_all()


def akjobd(project: Project, action: str, *options: str) -> tuple[int, str, str]:
    result = project.manage("akjobd", action, *options, check=False)
    return result.returncode, result.stdout, result.stderr


def refused(project: Project, action: str, *options: str) -> str:
    """Run the action; it must fail with one line on stderr and nothing on stdout."""
    code, out, err = akjobd(project, action, *options)
    assert code == 1, (out, err)
    assert out == ""
    assert len(err.strip().splitlines()) == 1, err
    return err


def started_pid(project: Project) -> int:
    code, out, err = akjobd(project, *project.akjobd_args("start")[1:])
    match = STARTED.match(out.strip())
    assert code == 0 and match, (out, err)
    return int(match.group(1))


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
    assert processes_with(str(project.base)) == []


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
    assert processes_with(str(project.base)) == []


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
    assert processes_with(str(project.base)) == []


def test_a_removed_pid_file_does_not_hide_the_daemon(project: Project) -> None:
    pid = started_pid(project)
    project.pid_file.unlink()
    code, out, _ = akjobd(project, *project.akjobd_args("status")[1:])
    assert (code, out.splitlines()[0]) == (0, f"akjobd is running (pid {pid})")
    code, out, _ = akjobd(project, *project.akjobd_args("start")[1:])
    assert (code, out.strip()) == (0, f"akjobd is already running (pid {pid})")
    assert processes_with(str(project.base)) == [pid]
    assert not project.pid_file.exists()  # the refused start left nothing behind
    project.pid_file.write_text("")  # replaced by another file: still found
    code, out, _ = akjobd(project, *project.akjobd_args("stop")[1:])
    assert (code, out.strip()) == (0, f"akjobd stopped (pid {pid})")
    wait_for(lambda: not alive(pid), timeout=10, what="the daemon to end")
    assert project.pid_file.read_text() == ""  # not its own file: left as it was
    code, _, err = akjobd(project, *project.akjobd_args("status")[1:])
    assert (code, err.strip()) == (3, "CommandError: akjobd is not running")
    new = started_pid(project)  # and a new daemon starts as usual
    assert read_pid(project.pid_file) == new != pid
    assert akjobd(project, *project.akjobd_args("stop")[1:])[0] == 0
    assert not os.path.exists(project.pid_file)
