"""Starting, stopping and watching the akjobd process.

``start`` takes the pid-file lock (and, on SQLite, the database lock) *before* forking, so of any
number of simultaneous starts exactly one goes on; the others say "already running" and exit 0,
which makes ``start`` safe from cron every minute. The daemon inherits the locks, daemonizes with
python-daemon, and reports its pid back through a pipe, so the command prints the pid of a daemon
that really runs. SIGTERM and SIGINT only ask the loop to stop (never python-daemon's default
``SystemExit``): running jobs get ``AKJOB_STOP_GRACE`` to finish.

Every action returns an :class:`Outcome`; the management command prints it and exits with its code.
"""

from __future__ import annotations

import logging
import os
import select
import signal
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn, Protocol

from akjob import log
from akjob.conf import akjob_settings
from akjob.daemon import dblock
from akjob.daemon.pidfile import LockFile, PidFile, is_running, wait_for_pid
from akjob.exceptions import DaemonAlreadyRunning

logger = logging.getLogger("akjob.daemon")

# Set in akjobd and inherited by its job processes: they must never auto-start another akjobd.
IN_DAEMON_ENV = "AKJOB_IN_DAEMON"
START_TIMEOUT = 30.0  # how long ``start`` waits for the daemon to report
STOP_MARGIN = 15.0  # added to AKJOB_STOP_GRACE for ``stop`` to wait
UMASK = 0o022

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_NOT_RUNNING = 3  # ``status`` only, as LSB init scripts do


@dataclass(frozen=True)
class Outcome:
    """What an action did: the exit status and the message for the user."""

    code: int
    message: str

    @property
    def ok(self) -> bool:
        return self.code == EXIT_OK


@dataclass(frozen=True)
class Paths:
    """Where akjobd keeps its pid file and logs, from the options or the settings."""

    pid_file: Path
    log_dir: Path

    @classmethod
    def resolve(
        cls,
        piddir: str | os.PathLike[str] | None = None,
        pidname: str | None = None,
        logdir: str | os.PathLike[str] | None = None,
    ) -> Paths:
        pid_dir = Path(piddir) if piddir else akjob_settings.pid_dir
        log_dir = Path(logdir) if logdir else akjob_settings.log_dir
        return cls((pid_dir / (pidname or akjob_settings.pid_name)).absolute(), log_dir.absolute())


class Stoppable(Protocol):
    def run(self) -> None: ...

    def request_stop(self) -> None: ...


def _default_daemon() -> Stoppable:
    from akjob.daemon.loop import Daemon

    return Daemon()


class StopRelay:
    """The SIGTERM/SIGINT handler: it only asks the daemon to stop, even before it exists."""

    def __init__(self) -> None:
        self.requested = False
        self._daemon: Stoppable | None = None

    def attach(self, daemon: Stoppable) -> None:
        self._daemon = daemon
        if self.requested:
            daemon.request_stop()

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        self.requested = True
        if self._daemon is not None:
            self._daemon.request_stop()


# -- start ----------------------------------------------------------------------------------------


def start(
    piddir: str | os.PathLike[str] | None = None,
    pidname: str | None = None,
    logdir: str | os.PathLike[str] | None = None,
    *,
    daemon_factory: Callable[[], Stoppable] = _default_daemon,
    timeout: float = START_TIMEOUT,
) -> Outcome:
    """Start akjobd in the background, unless one already runs for this pid file or database."""
    paths = Paths.resolve(piddir, pidname, logdir)
    try:
        locks = _take_locks(paths)
    except DaemonAlreadyRunning as exc:
        return Outcome(EXIT_OK, _already_running(exc))
    from django.db import connections

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
        pid = _read_report(read_fd, timeout)
    finally:
        os.close(read_fd)
        with suppress(ChildProcessError):
            os.waitpid(child, 0)
    if pid is None:
        out = paths.log_dir / log.OUT_FILE
        return Outcome(EXIT_FAILED, f"akjobd did not start; see {out}")
    return Outcome(EXIT_OK, f"akjobd started (pid {pid})")


def _take_locks(paths: Paths) -> list[LockFile]:
    pid_lock = PidFile(paths.pid_file)
    pid_lock.acquire()
    db_lock = dblock.database_lock()
    if db_lock is None:
        return [pid_lock]
    try:
        db_lock.acquire()
    except DaemonAlreadyRunning:
        pid_lock.release()
        raise
    return [pid_lock, db_lock]


def _already_running(exc: DaemonAlreadyRunning) -> str:
    path = getattr(exc, "path", None)
    pid = getattr(exc, "pid", None)
    if path is not None and pid is None:
        pid = wait_for_pid(path, 5.0)  # a daemon just starting writes its pid a moment later
    where = ""
    if path is not None and str(path).endswith(dblock.SUFFIX):
        where = f" on database {str(path)[: -len(dblock.SUFFIX)]}"
    return f"akjobd is already running{where} (pid {pid or 'unknown'})"


def _read_report(fd: int, timeout: float) -> int | None:
    """The pid the daemon writes to the pipe once it runs; None if it died or said nothing."""
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
    text = data.split(b"\n", 1)[0].strip()
    return int(text) if text.isdigit() else None


def _become_daemon(  # pragma: no cover - runs in the forked process
    paths: Paths, locks: list[LockFile], report_fd: int, daemon_factory: Callable[[], Stoppable]
) -> NoReturn:
    """Daemonize, report the pid, run the loop; never returns to the caller's code."""
    import daemon as python_daemon

    code = EXIT_FAILED
    pid_lock, extra_locks = locks[0], locks[1:]
    try:
        paths.log_dir.mkdir(parents=True, exist_ok=True)
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
            os.environ[IN_DAEMON_ENV] = "1"
            _line_buffered()
            for lock in extra_locks:
                lock.adopt()
                lock.write_pid()
                lock.keep_from_children()
            os.write(report_fd, f"{os.getpid()}\n".encode())
            os.close(report_fd)
            code = _serve(relay, daemon_factory)
    except BaseException:
        traceback.print_exc()
    finally:
        for lock in extra_locks:
            with suppress(OSError):
                lock.release()
        logging.shutdown()
        with suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def _signal_map(relay: StopRelay) -> dict[int, Any]:
    return {
        signal.SIGTERM: relay,
        signal.SIGINT: relay,
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


def _serve(relay: StopRelay, daemon_factory: Callable[[], Stoppable]) -> int:
    """Run the loop until a stop is asked for; the exit status of the daemon process."""
    logger.info("akjobd started (pid %d)", os.getpid())
    try:
        daemon = daemon_factory()
        relay.attach(daemon)
        daemon.run()
    except Exception:
        logger.exception("akjobd stopped by an error (pid %d)", os.getpid())
        return EXIT_FAILED
    logger.info("akjobd stopped (pid %d)", os.getpid())
    return EXIT_OK


# -- run (foreground) -----------------------------------------------------------------------------


def run(
    piddir: str | os.PathLike[str] | None = None,
    pidname: str | None = None,
    logdir: str | os.PathLike[str] | None = None,
    *,
    daemon_factory: Callable[[], Stoppable] = _default_daemon,
) -> Outcome:
    """Run akjobd in this process until SIGTERM/SIGINT (systemd, containers, supervisors).

    Same locks and signal handling as the daemon; logs go to the files and to stderr. Finding
    akjobd already running is an error here (exit 1), so a supervisor notices.
    """
    paths = Paths.resolve(piddir, pidname, logdir)
    relay = StopRelay()
    with _signals(relay):  # before the pid is written: whoever reads it may signal at once
        try:
            locks = _take_locks(paths)
        except DaemonAlreadyRunning as exc:
            return Outcome(EXIT_FAILED, _already_running(exc))
        try:
            for lock in locks:
                lock.write_pid()
                lock.keep_from_children()
            log.configure_daemon_logging(paths.log_dir, stderr=True)
            with _environ(IN_DAEMON_ENV, "1"):
                code = _serve(relay, daemon_factory)
        finally:
            for lock in locks:
                lock.release()
    if code != EXIT_OK:
        return Outcome(code, f"akjobd stopped by an error; see {paths.log_dir / log.DAEMON_LOG}")
    return Outcome(EXIT_OK, "akjobd stopped")


@contextmanager
def _signals(relay: StopRelay) -> Iterator[None]:
    previous = {sig: signal.signal(sig, relay) for sig in (signal.SIGTERM, signal.SIGINT)}
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
    daemon_factory: Callable[[], Stoppable] = _default_daemon,
) -> Outcome:
    """``stop`` then ``start``; a failed stop starts nothing."""
    stopped = stop(piddir, pidname)
    if not stopped.ok:
        return stopped
    started = start(piddir, pidname, logdir, daemon_factory=daemon_factory)
    return Outcome(started.code, f"{stopped.message}\n{started.message}")


# -- status ---------------------------------------------------------------------------------------


def status(piddir: str | os.PathLike[str] | None = None, pidname: str | None = None) -> Outcome:
    """Whether akjobd runs, with its pid, uptime, heartbeat, runs in progress and next due job."""
    from akjob.daemon.status import describe_running

    pid_file = Paths.resolve(piddir, pidname).pid_file
    if not is_running(pid_file):
        return Outcome(EXIT_NOT_RUNNING, "akjobd is not running")
    pid = wait_for_pid(pid_file, 5.0)
    return Outcome(EXIT_OK, describe_running(pid, pid_file))
