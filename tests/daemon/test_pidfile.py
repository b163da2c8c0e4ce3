"""The flock pid file: one holder, stale files harmless, pids inside never trusted for liveness."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from akjob.daemon.pidfile import (
    Holder,
    LockFile,
    PidFile,
    check_pid_name,
    check_pid_path,
    find_holder,
    is_running,
    read_pid,
    wait_for_pid,
)
from akjob.daemon.runtime import Paths
from akjob.exceptions import DaemonAlreadyRunning, DaemonError
from tests.acceptance.project import REPO, alive, wait_for

HOLDER = textwrap.dedent(
    """
    import sys, time
    from akjob.daemon.pidfile import PidFile
    with PidFile(sys.argv[1]):
        print("locked", flush=True)
        time.sleep(600)
    """
)


@pytest.fixture
def pid_path(tmp_path: Path) -> Path:
    return tmp_path / "run" / "akjobd.pid"


@contextmanager
def holder_process(script: str, path: Path) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """Run ``script`` with ``path``; yield it and the first line it prints; kill it at the end."""
    with subprocess.Popen(
        [sys.executable, "-c", script, str(path)], cwd=REPO, stdout=subprocess.PIPE, text=True
    ) as proc:
        assert proc.stdout is not None
        try:
            yield proc, proc.stdout.readline().strip()
        finally:
            proc.kill()


def test_enter_locks_writes_pid_and_exit_removes_the_file(pid_path: Path) -> None:
    with PidFile(pid_path) as pidfile:
        assert pidfile.held
        assert pid_path.parent.is_dir()
        assert read_pid(pid_path) == os.getpid()
        assert is_running(pid_path)
    assert not pid_path.exists()
    assert not is_running(pid_path)


def test_second_holder_is_refused_with_the_pid(pid_path: Path) -> None:
    with PidFile(pid_path):
        with pytest.raises(DaemonAlreadyRunning) as info:
            PidFile(pid_path).acquire()
        assert info.value.pid == os.getpid()
        assert info.value.path == pid_path
    PidFile(pid_path).acquire()  # free again once released


def test_lock_held_by_another_process(pid_path: Path) -> None:
    with holder_process(HOLDER, pid_path) as (holder, line):
        assert line == "locked"
        assert is_running(pid_path)
        assert read_pid(pid_path) == holder.pid
        with pytest.raises(DaemonAlreadyRunning):
            PidFile(pid_path).acquire()


def test_stale_file_of_a_killed_process_is_taken_over(pid_path: Path) -> None:
    with holder_process(HOLDER, pid_path) as (holder, line):
        assert line == "locked"
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
    assert pid_path.exists() and read_pid(pid_path) == holder.pid  # left behind
    assert not is_running(pid_path)
    with PidFile(pid_path):
        assert read_pid(pid_path) == os.getpid()


def test_live_unrelated_pid_in_an_unlocked_file_does_not_fool_it(pid_path: Path) -> None:
    pid_path.parent.mkdir(parents=True)
    pid_path.write_text(f"{os.getppid()}\n")  # a live process, but no akjobd
    assert alive(os.getppid())
    assert not is_running(pid_path)
    with PidFile(pid_path):
        assert read_pid(pid_path) == os.getpid()


@pytest.mark.parametrize("content", ["", "\n", "garbage", "-5", "0", "12x"])
def test_read_pid_of_bad_content_is_none(pid_path: Path, content: str) -> None:
    pid_path.parent.mkdir(parents=True)
    pid_path.write_text(content)
    assert read_pid(pid_path) is None


def test_read_pid_of_missing_file_is_none(pid_path: Path) -> None:
    assert read_pid(pid_path) is None
    assert not is_running(pid_path)
    assert wait_for_pid(pid_path, 0.5) is None


def test_acquire_empties_the_file_until_the_pid_is_written(pid_path: Path) -> None:
    pid_path.parent.mkdir(parents=True)
    pid_path.write_text("4242424\n")
    lock = LockFile(pid_path)
    lock.acquire()
    try:
        assert read_pid(pid_path) is None
        lock.write_pid(1234)
        assert read_pid(pid_path) == 1234
    finally:
        lock.release()
    lock.release()  # twice is harmless


def test_release_leaves_a_file_that_replaced_ours(pid_path: Path) -> None:
    lock = LockFile(pid_path)
    lock.acquire()
    pid_path.unlink()
    pid_path.write_text("someone else's\n")
    lock.release()
    assert pid_path.read_text() == "someone else's\n"


DETACH = textwrap.dedent(
    """
    import os, sys, time
    from akjob.daemon.pidfile import PidFile
    lock = PidFile(sys.argv[1])
    lock.acquire()
    child = os.fork()
    if child == 0:
        lock.adopt()
        lock.write_pid()
        time.sleep(600)
        os._exit(0)
    lock.detach()  # the parent lets go; the child holds on
    print(child, flush=True)
    time.sleep(600)
    """
)


def test_detach_keeps_the_lock_for_a_forked_child(pid_path: Path) -> None:
    """``start`` locks, forks, and the parent lets go of its descriptor: the child holds on."""
    with holder_process(DETACH, pid_path) as (parent, line):
        child = int(line)
        try:
            wait_for(lambda: read_pid(pid_path) == child, timeout=10, what="the child's pid")
            os.kill(parent.pid, signal.SIGKILL)
            parent.wait()
            assert is_running(pid_path)
            with pytest.raises(DaemonAlreadyRunning):
                PidFile(pid_path).acquire()
        finally:
            os.kill(child, signal.SIGKILL)
    wait_for(lambda: not is_running(pid_path), timeout=10, what="the lock to go with the child")


INHERIT = textwrap.dedent(
    """
    import os, sys
    from akjob.daemon.pidfile import PidFile, is_running
    with PidFile(sys.argv[1]) as pidfile:
        child = os.fork()
        if child == 0:
            held = pidfile.held
            pidfile.release()  # must neither unlock nor unlink the parent's file
            os._exit(1 if held else 0)
        _, status = os.waitpid(child, 0)
        print(os.waitstatus_to_exitcode(status), os.path.exists(sys.argv[1]),
              is_running(sys.argv[1]), flush=True)
    """
)


def test_forked_children_do_not_inherit_the_daemons_lock(pid_path: Path) -> None:
    """A job process outliving the daemon must not keep the pid file locked, nor remove it."""
    with holder_process(INHERIT, pid_path) as (holder, line):
        assert line == "0 True True"
        holder.wait()
    assert not pid_path.exists()


def test_killing_the_holder_frees_the_lock_even_with_a_forked_job_alive(pid_path: Path) -> None:
    script = textwrap.dedent(
        """
        import os, sys, time
        from akjob.daemon.pidfile import PidFile
        with PidFile(sys.argv[1]):
            job = os.fork()
            if job == 0:
                time.sleep(600)
                os._exit(0)
            print(job, flush=True)
            time.sleep(600)
        """
    )
    with holder_process(script, pid_path) as (holder, line):
        job = int(line)
        try:
            os.kill(holder.pid, signal.SIGKILL)
            holder.wait()
            assert alive(job)
            wait_for(lambda: not is_running(pid_path), timeout=5, what="the lock to be released")
        finally:
            os.kill(job, signal.SIGKILL)


# -- what akjobd writes over, and a removed pid file ------------------------------------------


@pytest.mark.parametrize(
    "make,problem",
    [
        (lambda p: p.write_text("key = value\n"), "holds something else than a process id"),
        (lambda p: p.write_text("1234\n" * 10), "holds 50 bytes"),
        (lambda p: p.write_bytes(b"\xff\xfe12"), "holds something else than a process id"),
        (lambda p: p.mkdir(), "is a directory"),
        (lambda p: p.symlink_to(p.parent / "target"), "is a symbolic link"),
        (lambda p: os.mkfifo(p), "is not a regular file"),
    ],
    ids=["text", "too long", "binary", "directory", "symbolic link", "fifo"],
)
def test_a_file_that_is_not_a_pid_file_is_refused_and_left_alone(pid_path: Path, make, problem):
    pid_path.parent.mkdir(parents=True)
    target = pid_path.parent / "target"
    target.write_text("precious\n")
    make(pid_path)
    before = sorted(p.name for p in pid_path.parent.iterdir())
    for attempt in (lambda: PidFile(pid_path).acquire(), lambda: check_pid_path(pid_path)):
        with pytest.raises(DaemonError) as info:
            attempt()
        assert f"{pid_path} {problem}, not an akjobd pid file" in str(info.value)
    assert target.read_text() == "precious\n"
    assert sorted(p.name for p in pid_path.parent.iterdir()) == before
    if pid_path.is_file() and not pid_path.is_symlink():
        assert len(pid_path.read_bytes()) > 0  # not truncated


@pytest.mark.parametrize("content", ["", "\n", "4242\n", " 17 \n"])
def test_pid_files_empty_or_with_one_pid_are_taken_over(pid_path: Path, content: str) -> None:
    pid_path.parent.mkdir(parents=True)
    pid_path.write_text(content)
    check_pid_path(pid_path)
    with PidFile(pid_path):
        assert read_pid(pid_path) == os.getpid()


@pytest.mark.parametrize("name", ["", ".", "..", "../x.pid", "a/b.pid", "a..pid", "x\0.pid"])
def test_pid_names_that_are_not_plain_file_names_are_refused(name: str) -> None:
    with pytest.raises(DaemonError, match="must be a plain file name"):
        check_pid_name(name)
    if name:  # an empty option means the setting's name
        with pytest.raises(DaemonError, match="must be a plain file name"):
            Paths.resolve("/tmp", name)


def test_plain_pid_names_are_accepted(tmp_path: Path) -> None:
    for name in ("akjobd.pid", "akjobd-2.pid", ".akjobd", "pid"):
        check_pid_name(name)
        assert Paths.resolve(tmp_path, name).pid_file == tmp_path / name


def test_a_removed_pid_file_still_shows_its_holder(pid_path: Path) -> None:
    with holder_process(HOLDER, pid_path) as (holder, line):
        assert line == "locked"
        pid_path.unlink()
        assert is_running(pid_path)
        assert find_holder(pid_path) == Holder(holder.pid, removed=True)
        assert wait_for_pid(pid_path, 1.0) == holder.pid
        with pytest.raises(DaemonAlreadyRunning) as info:
            PidFile(pid_path).acquire()
        assert info.value.pid == holder.pid
        assert not pid_path.exists()  # the refused acquire removed the file it made
        pid_path.write_text("")  # another file in its place: the holder is still found
        assert find_holder(pid_path) == Holder(holder.pid, removed=True)
        with pytest.raises(DaemonAlreadyRunning):
            PidFile(pid_path).acquire()
        assert pid_path.read_text() == ""
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
    assert find_holder(pid_path) is None
    assert wait_for_pid(pid_path, 0.2) is None
    with PidFile(pid_path):
        assert read_pid(pid_path) == os.getpid()


def test_a_process_with_the_removed_file_open_but_unlocked_is_not_a_holder(
    pid_path: Path,
) -> None:
    script = textwrap.dedent(
        """
        import sys, time
        f = open(sys.argv[1], "w")
        print("open", flush=True)
        time.sleep(600)
        """
    )
    pid_path.parent.mkdir(parents=True)
    with holder_process(script, pid_path) as (_, line):
        assert line == "open"
        pid_path.unlink()
        assert find_holder(pid_path) is None
        assert not is_running(pid_path)


def test_the_log_files_in_the_log_directory_option_must_be_regular_files(
    tmp_path: Path,
) -> None:
    afile = tmp_path / "afile"
    afile.write_text("precious\n")
    logs = tmp_path / "logs"
    logs.mkdir()
    Paths.resolve(tmp_path, "a.pid", logs)
    (logs / "akjobd.log").mkdir()
    with pytest.raises(DaemonError, match="akjobd.log is not a regular file"):
        Paths.resolve(tmp_path, "a.pid", logs)
    (logs / "akjobd.log").rmdir()
    (logs / "akjob.job.log").symlink_to(afile)
    with pytest.raises(DaemonError, match="akjob.job.log is not a regular file"):
        Paths.resolve(tmp_path, "a.pid", logs)
    assert Paths.resolve(tmp_path, "a.pid").log_dir != logs  # only the option is checked
    assert afile.read_text() == "precious\n"
