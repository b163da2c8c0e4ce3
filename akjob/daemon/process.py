"""Controlling akjobd: ``start`` (in :mod:`akjob.daemon.daemonize`), ``run`` in the foreground,
``stop``, ``restart`` and ``status``.

Every action returns an :class:`Outcome`; the management command prints it and exits with its code.
SIGTERM and SIGINT only ask the loop to stop: running jobs get ``AKJOB_STOP_GRACE`` to finish.
SIGHUP reopens the log files.
"""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from akjob import log
from akjob.conf import akjob_settings
from akjob.daemon import reload as reloading
from akjob.daemon import runtime
from akjob.daemon.daemonize import start
from akjob.daemon.pidfile import LockFile, is_running, wait_for_pid
from akjob.daemon.runtime import (
    EXIT_FAILED,
    EXIT_NOT_RUNNING,
    EXIT_OK,
    IN_DAEMON_ENV,
    Outcome,
    Paths,
    Stoppable,
    StopRelay,
    already_running,
    default_daemon,
    serve,
    take_locks,
)
from akjob.exceptions import DaemonAlreadyRunning

__all__ = [
    "EXIT_FAILED",
    "EXIT_NOT_RUNNING",
    "EXIT_OK",
    "IN_DAEMON_ENV",
    "Outcome",
    "Paths",
    "StopRelay",
    "reload",
    "restart",
    "run",
    "start",
    "status",
    "stop",
]

EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*: ")  # "module.SomeError: what happened"
STOP_MARGIN = 15.0  # added to AKJOB_STOP_GRACE for ``stop`` to wait


# -- run (foreground) -----------------------------------------------------------------------------


def run(
    piddir: str | os.PathLike[str] | None = None,
    pidname: str | None = None,
    logdir: str | os.PathLike[str] | None = None,
    *,
    daemon_factory: Callable[[], Stoppable] = default_daemon,
) -> Outcome:
    """Run akjobd in this process until SIGTERM/SIGINT (systemd, containers, supervisors).

    Same locks and signal handling as the daemon; logs go to the files and to stderr. Finding
    akjobd already running is an error here (exit 1), so a supervisor notices.
    """
    paths = Paths.resolve(piddir, pidname, logdir)
    relay = StopRelay()
    resumed = reloading.peek_state()
    with _signals(relay):  # before the pid is written: whoever reads it may signal at once
        try:
            if resumed is None:
                locks, echo = take_locks(paths), True
            else:  # this process reloaded its code: it holds its locks already
                locks = [LockFile.inherited(path, fd) for path, fd in resumed["locks"]]
                echo = resumed["stderr"]
        except DaemonAlreadyRunning as exc:
            return Outcome(EXIT_FAILED, already_running(exc))
        runtime.HELD_LOCKS[:] = locks
        runtime.ECHO_STDERR = echo
        try:
            for lock in locks:
                lock.write_pid()
                lock.keep_from_children()
            log.configure_daemon_logging(paths.log_dir, stderr=echo)
            with _environ(IN_DAEMON_ENV, "1"):
                code = serve(relay, daemon_factory)
        finally:
            for lock in locks:
                lock.release()
    if code != EXIT_OK:
        return Outcome(code, f"akjobd stopped by an error; see {paths.log_dir / log.DAEMON_LOG}")
    return Outcome(EXIT_OK, "akjobd stopped")


@contextmanager
def _signals(relay: StopRelay) -> Iterator[None]:
    previous = {sig: signal.signal(sig, relay) for sig in relay.signals}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextmanager
def _environ(name: str, value: str) -> Iterator[None]:
    old = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = old


# -- stop, restart --------------------------------------------------------------------------------


def stop(
    piddir: str | os.PathLike[str] | None = None,
    pidname: str | None = None,
    *,
    timeout: float | None = None,
) -> Outcome:
    """Ask akjobd to stop (SIGTERM) and wait until it let go of its pid file.

    A stopped akjobd is what was asked for: "not running" is exit 0.
    """
    pid_file = Paths.resolve(piddir, pidname).pid_file
    if not is_running(pid_file):
        return Outcome(EXIT_OK, "akjobd is not running")
    pid = wait_for_pid(pid_file, 5.0)
    if pid is None:
        if not is_running(pid_file):
            return Outcome(EXIT_OK, "akjobd is not running")
        return Outcome(EXIT_FAILED, f"{pid_file} is locked but holds no pid; try again")
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return Outcome(EXIT_FAILED, f"{pid_file} is locked but pid {pid} does not exist")
    except PermissionError:
        return Outcome(EXIT_FAILED, f"not allowed to signal akjobd (pid {pid})")
    wait = timeout if timeout is not None else akjob_settings.stop_grace + STOP_MARGIN
    deadline = time.monotonic() + wait
    while is_running(pid_file):
        if time.monotonic() >= deadline:
            return Outcome(
                EXIT_FAILED, f"akjobd (pid {pid}) is still running after {wait:g} s; kill -9 {pid}"
            )
        time.sleep(0.05)
    return Outcome(EXIT_OK, f"akjobd stopped (pid {pid})")


def restart(
    piddir: str | os.PathLike[str] | None = None,
    pidname: str | None = None,
    logdir: str | os.PathLike[str] | None = None,
    *,
    daemon_factory: Callable[[], Stoppable] = default_daemon,
) -> Outcome:
    """``stop`` then ``start``; a failed stop starts nothing."""
    stopped = stop(piddir, pidname)
    if not stopped.ok:
        return stopped
    started = start(piddir, pidname, logdir, daemon_factory=daemon_factory)
    return Outcome(started.code, f"{stopped.message}\n{started.message}")


def reload(piddir: str | os.PathLike[str] | None = None, pidname: str | None = None) -> Outcome:
    """Ask akjobd to load the code on disk afresh, keeping its runs (SIGUSR1; see
    :mod:`akjob.daemon.reload`). akjobd checks the code loads first, and logs what it did."""
    pid_file = Paths.resolve(piddir, pidname).pid_file
    if not is_running(pid_file):
        return Outcome(EXIT_NOT_RUNNING, "akjobd is not running")
    pid = wait_for_pid(pid_file, 5.0)
    if pid is None:
        return Outcome(EXIT_FAILED, f"{pid_file} is locked but holds no pid; try again")
    try:
        os.kill(pid, signal.SIGUSR1)
    except ProcessLookupError:
        return Outcome(EXIT_FAILED, f"{pid_file} is locked but pid {pid} does not exist")
    return Outcome(EXIT_OK, f"akjobd (pid {pid}) asked to reload its code; see akjobd.log")


# -- status ---------------------------------------------------------------------------------------


def status(piddir: str | os.PathLike[str] | None = None, pidname: str | None = None) -> Outcome:
    """Whether akjobd runs, with its pid, uptime, heartbeat, runs in progress and next due job."""
    from akjob.daemon.status import describe_running

    paths = Paths.resolve(piddir, pidname)
    if not is_running(paths.pid_file):
        why = last_error(paths.log_dir / log.DAEMON_LOG)
        said = f"; it stopped by an error: {why} (see {paths.log_dir / log.DAEMON_LOG})"
        return Outcome(EXIT_NOT_RUNNING, "akjobd is not running" + (said if why else ""))
    pid = wait_for_pid(paths.pid_file, 5.0)
    return Outcome(EXIT_OK, describe_running(pid, paths.pid_file))


def status_json(
    piddir: str | os.PathLike[str] | None = None, pidname: str | None = None
) -> Outcome:
    """``status --json``: the cluster's health from the database (:func:`akjob.health.snapshot`)
    and whether this host's akjobd (its pid file) runs; exit 0 when it runs, 3 when not."""
    import json
    from datetime import UTC, datetime

    from akjob.health import snapshot

    paths = Paths.resolve(piddir, pidname)
    running = is_running(paths.pid_file)
    data = snapshot(datetime.now(UTC))
    data["local"] = {
        "running": running,
        "pid": wait_for_pid(paths.pid_file, 5.0) if running else None,
        "pid_file": str(paths.pid_file),
    }
    return Outcome(EXIT_OK if running else EXIT_NOT_RUNNING, json.dumps(data, indent=2))


def last_error(log_file: Path) -> str | None:
    """If the last akjobd that wrote ``log_file`` stopped by an error, that error's last line."""
    try:
        with open(log_file, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(f.tell() - 65536, 0))
            lines = f.read().decode(errors="replace").splitlines()
    except OSError:
        return None
    for i in range(len(lines) - 1, -1, -1):
        if "akjobd started" in lines[i] or "akjobd stopped (pid" in lines[i]:
            return None
        if "akjobd stopped by an error" in lines[i]:
            raised = [line for line in lines[i + 1 :] if EXCEPTION_LINE.match(line)]
            return raised[-1].split(": ", 1)[1].strip() if raised else "see the log"
    return None
