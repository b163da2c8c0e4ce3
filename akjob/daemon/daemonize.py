"""``akjobd start``: the background daemon.

The command takes the pid-file lock (and, on SQLite, the database lock) *before* forking, so of
any number of simultaneous starts exactly one goes on; the others say "already running" and exit
0, which makes ``start`` safe from cron every minute. The forked process inherits the locks,
daemonizes with python-daemon and reports its pid (or why it could not start) back through a pipe.
The command then waits for the daemon's first heartbeat (:mod:`akjob.daemon.firstbeat`), so
"started" means running jobs; a daemon that dies or stays silent is stopped and the reason it
logged is printed. SIGTERM and SIGINT only ask the loop to stop, never python-daemon's default
``SystemExit``.
"""

from __future__ import annotations

import logging
import os
import select
import signal
import sys
import time
import traceback
from collections.abc import Callable
from contextlib import suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NoReturn

from akjob import log
from akjob.conf import akjob_settings
from akjob.daemon import firstbeat, runtime
from akjob.daemon.pidfile import LockFile
from akjob.daemon.runtime import (
    EXIT_FAILED,
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

UMASK = 0o022
ERROR_PREFIX = "error:"


def start(
    piddir: str | os.PathLike[str] | None = None,
    pidname: str | None = None,
    logdir: str | os.PathLike[str] | None = None,
    *,
    daemon_factory: Callable[[], Stoppable] = default_daemon,
    timeout: float | None = None,
    beat: Callable[[int, datetime], bool] = firstbeat.heartbeat_written,
) -> Outcome:
    """Start akjobd in the background, unless one already runs for this pid file or database;
    "started" once it wrote its first heartbeat (``beat``), within ``timeout`` seconds
    (``AKJOB_START_TIMEOUT``)."""
    paths = Paths.resolve(piddir, pidname, logdir)
    timeout = akjob_settings.start_timeout if timeout is None else timeout
    deadline = time.monotonic() + timeout
    try:
        locks = take_locks(paths)
    except DaemonAlreadyRunning as exc:
        return Outcome(EXIT_OK, already_running(exc))
    from django.db import connections

    missing = _unmigrated(locks)
    if missing:
        return Outcome(EXIT_FAILED, missing)
    since = datetime.now(UTC) - timedelta(seconds=1)
    log_from = firstbeat.size(paths.log_dir / log.DAEMON_LOG)
    connections.close_all()  # a forked process must not share the parent's connections
    read_fd, write_fd = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the forked process
        os.close(read_fd)
        _become_daemon(paths, locks, write_fd, daemon_factory)
    os.close(write_fd)
    for lock in locks:
        lock.detach()  # the child holds the locks now
    try:
        pid = _read_report(read_fd, max(deadline - time.monotonic(), 0.0))
    finally:
        os.close(read_fd)
        with suppress(ChildProcessError):
            os.waitpid(child, 0)
    if isinstance(pid, str):
        return Outcome(EXIT_FAILED, f"akjobd did not start: {pid}")
    if pid is None:
        reason = firstbeat.log_reason(paths.log_dir, log_from)
        return Outcome(EXIT_FAILED, f"akjobd did not start: {reason}")
    failure = firstbeat.await_heartbeat(
        pid, paths.pid_file, since=since, deadline=deadline, timeout=timeout, beat=beat
    )
    if failure is not None:
        firstbeat.stop_silent(pid, paths.pid_file)
        reason = firstbeat.log_reason(paths.log_dir, log_from)
        return Outcome(EXIT_FAILED, f"akjobd did not start (pid {pid}): {failure}; {reason}")
    return Outcome(EXIT_OK, f"akjobd started (pid {pid})")


def _unmigrated(locks: list[LockFile]) -> str | None:
    """Why akjobd cannot start on this database (its akjob migrations not applied), releasing
    the locks then; None when it can. A database that cannot be reached raises."""
    from akjob.checks import migration_problem

    try:
        problem = migration_problem()
    except BaseException:
        for lock in locks:
            lock.release()
        raise
    if problem is None:
        return None
    for lock in locks:
        lock.release()
    return f"akjobd did not start: {problem}"


def _read_report(fd: int, timeout: float) -> int | str | None:
    """The pid the daemon writes to the pipe once it runs, or the error it writes when it cannot
    start; None if it died or said nothing."""
    deadline = time.monotonic() + timeout
    data = b""
    while b"\n" not in data:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
            return None
        chunk = os.read(fd, 64)
        if not chunk:
            break
        data += chunk
    text = data.split(b"\n", 1)[0].decode(errors="replace").strip()
    if text.startswith(ERROR_PREFIX):
        return text[len(ERROR_PREFIX) :].strip() or "unknown error"
    return int(text) if text.isdigit() else None


def _become_daemon(  # pragma: no cover - runs in the forked process
    paths: Paths, locks: list[LockFile], report_fd: int, daemon_factory: Callable[[], Stoppable]
) -> NoReturn:
    """Daemonize, report the pid, run the loop; never returns to the caller's code."""
    import daemon as python_daemon

    code = EXIT_FAILED
    pid_lock, extra_locks = locks[0], locks[1:]
    daemonized = False
    try:
        paths.log_dir.mkdir(parents=True, exist_ok=True)
        log.keep_previous_out(paths.log_dir, akjob_settings.out_keep)
        out = open(paths.log_dir / log.OUT_FILE, "w", buffering=1, encoding="utf-8")
        streams = log.configure_daemon_logging(paths.log_dir)
        relay = StopRelay()
        context = python_daemon.DaemonContext(
            working_directory=str(_working_directory()),
            umask=UMASK,
            detach_process=True,
            pidfile=pid_lock,
            stdout=out,
            stderr=out,
            files_preserve=[*streams, out, report_fd, *(lock.fileno() for lock in locks)],
            signal_map=_signal_map(relay),
        )
        with context:
            daemonized = True
            os.environ[IN_DAEMON_ENV] = "1"
            _line_buffered()
            for lock in extra_locks:
                lock.adopt()
                lock.write_pid()
                lock.keep_from_children()
            runtime.HELD_LOCKS[:] = locks
            os.write(report_fd, f"{os.getpid()}\n".encode())
            os.close(report_fd)
            report_fd = -1
            code = serve(relay, daemon_factory)
    except BaseException as exc:
        if report_fd >= 0:  # the command is still waiting: tell it why, in one line
            with suppress(OSError):
                os.write(report_fd, f"{ERROR_PREFIX} {_one_line(exc)}\n".encode())
        if daemonized:
            traceback.print_exc()  # into akjobd.out
    finally:
        for lock in extra_locks:
            with suppress(OSError):
                lock.release()
        logging.shutdown()
        with suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _signal_map(relay: StopRelay) -> dict[int, Any]:
    return {
        signal.SIGTERM: relay,
        signal.SIGINT: relay,
        signal.SIGHUP: relay,
        signal.SIGUSR1: relay,
        signal.SIGTSTP: None,
        signal.SIGTTIN: None,
        signal.SIGTTOU: None,
    }


def _working_directory() -> Path:
    base = akjob_settings.base_dir
    return base if base.is_dir() else Path("/")


def _line_buffered() -> None:
    for stream in (sys.stdout, sys.stderr):
        with suppress(AttributeError, ValueError):
            stream.reconfigure(line_buffering=True)  # type: ignore[union-attr]
