"""The process side without forking: ``run`` in this process, the stop relay, paths, the report."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

import pytest
from django.test import override_settings

from akjob import log
from akjob.daemon import daemonize, process, runtime
from akjob.daemon.pidfile import PidFile, is_running, read_pid
from akjob.daemon.process import Outcome, Paths, StopRelay
from akjob.exceptions import DaemonAlreadyRunning
from tests.acceptance.project import wait_for


class FakeDaemon:
    """Stands in for the scheduler loop: runs until asked to stop."""

    def __init__(self, fail: bool = False) -> None:
        self.stop = threading.Event()
        self.fail = fail
        self.saw_env = ""

    def request_stop(self) -> None:
        self.stop.set()

    def run(self) -> None:
        self.saw_env = os.environ.get(process.IN_DAEMON_ENV, "")
        if self.fail:
            raise RuntimeError("the loop broke")
        assert self.stop.wait(20), "never asked to stop"


@pytest.fixture(autouse=True)
def clean_logging() -> None:
    yield
    log.reset()


def signal_when_pid_written(pid_file: Path, signum: int) -> threading.Thread:
    def send() -> None:
        wait_for(lambda: read_pid(pid_file) == os.getpid(), timeout=10, what="the pid file")
        os.kill(os.getpid(), signum)

    thread = threading.Thread(target=send)
    thread.start()
    return thread


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_run_in_the_foreground_until_a_signal(tmp_path: Path, signum: int) -> None:
    pid_file = tmp_path / "run" / "akjobd.pid"
    fake = FakeDaemon()
    before = signal.getsignal(signum)
    sender = signal_when_pid_written(pid_file, signum)
    outcome = process.run(tmp_path / "run", None, tmp_path / "logs", daemon_factory=lambda: fake)
    sender.join()
    assert outcome == Outcome(0, "akjobd stopped")
    assert fake.stop.is_set()
    assert fake.saw_env == "1"
    assert process.IN_DAEMON_ENV not in os.environ
    assert not pid_file.exists()
    assert signal.getsignal(signum) is before
    text = (tmp_path / "logs" / "akjobd.log").read_text()
    assert f"akjobd started (pid {os.getpid()})" in text
    assert f"akjobd stopped (pid {os.getpid()})" in text


def test_run_reports_a_broken_loop(tmp_path: Path) -> None:
    outcome = process.run(
        tmp_path / "run", None, tmp_path / "logs", daemon_factory=lambda: FakeDaemon(fail=True)
    )
    assert outcome.code == 1
    assert "stopped by an error" in outcome.message
    assert not (tmp_path / "run" / "akjobd.pid").exists()
    assert "RuntimeError: the loop broke" in (tmp_path / "logs" / "akjobd.log").read_text()


def test_run_refuses_when_the_pid_file_is_held(tmp_path: Path) -> None:
    with PidFile(tmp_path / "akjobd.pid"):
        outcome = process.run(tmp_path, None, tmp_path / "logs", daemon_factory=FakeDaemon)
    assert outcome == Outcome(1, f"akjobd is already running (pid {os.getpid()})")


def test_start_refuses_without_forking_when_held(tmp_path: Path) -> None:
    with PidFile(tmp_path / "other.pid"):
        outcome = process.start(tmp_path, "other.pid", tmp_path / "logs")
    assert outcome == Outcome(0, f"akjobd is already running (pid {os.getpid()})")
    assert not (tmp_path / "logs").exists()  # akjobd.out of the running daemon is left alone


def test_stop_relay_remembers_a_signal_that_came_before_the_daemon() -> None:
    relay = StopRelay()
    relay(signal.SIGTERM, None)
    fake = FakeDaemon()
    relay.attach(fake)
    assert fake.stop.is_set()


def test_paths_from_options_and_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AKJOB_PID_DIR", "AKJOB_PID_NAME", "AKJOB_LOG_DIR"):
        monkeypatch.delenv(name, raising=False)
    with override_settings(BASE_DIR=tmp_path):
        assert Paths.resolve() == Paths(tmp_path / "akjob" / "akjobd.pid", tmp_path / "akjob/logs")
        monkeypatch.setenv("AKJOB_PID_NAME", "env.pid")
        monkeypatch.setenv("AKJOB_LOG_DIR", str(tmp_path / "envlogs"))
        assert Paths.resolve() == Paths(tmp_path / "akjob" / "env.pid", tmp_path / "envlogs")
        assert Paths.resolve("/x", "y.pid", "/z") == Paths(Path("/x/y.pid"), Path("/z"))


def test_read_report(tmp_path: Path) -> None:
    read_fd, write_fd = os.pipe()
    os.write(write_fd, b"4321\n")
    assert daemonize._read_report(read_fd, 1.0) == 4321
    os.close(write_fd)
    os.close(read_fd)
    read_fd, write_fd = os.pipe()
    os.close(write_fd)  # the daemon died before reporting
    assert daemonize._read_report(read_fd, 1.0) is None
    os.close(read_fd)
    read_fd, write_fd = os.pipe()  # it says nothing
    assert daemonize._read_report(read_fd, 0.05) is None
    os.close(write_fd)
    os.close(read_fd)
    read_fd, write_fd = os.pipe()  # it could not start
    os.write(write_fd, b"error: OSError: no room\n")
    os.close(write_fd)
    assert daemonize._read_report(read_fd, 1.0) == "OSError: no room"
    os.close(read_fd)


def test_already_running_message_names_the_database(tmp_path: Path) -> None:
    exc = DaemonAlreadyRunning("locked")
    exc.pid = 77  # type: ignore[attr-defined]
    exc.path = tmp_path / "db.sqlite3.akjobd.lock"  # type: ignore[attr-defined]
    assert runtime.already_running(exc) == (
        f"akjobd is already running on database {tmp_path / 'db.sqlite3'} (pid 77)"
    )


def test_status_and_stop_of_a_lock_without_pid_are_not_fooled(tmp_path: Path) -> None:
    (tmp_path / "akjobd.pid").write_text(f"{os.getppid()}\n")  # live process, no lock
    assert not is_running(tmp_path / "akjobd.pid")
    assert process.status(tmp_path).code == 3
    assert process.stop(tmp_path) == Outcome(0, "akjobd is not running")
