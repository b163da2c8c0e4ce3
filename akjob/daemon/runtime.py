"""What the background daemon and the foreground ``akjobd run`` share: paths, the locks, the
stop relay that signal handlers call, and the loop's run itself."""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Protocol

from akjob.conf import akjob_settings
from akjob.daemon import dblock
from akjob.daemon.pidfile import LockFile, PidFile, wait_for_pid
from akjob.exceptions import DaemonAlreadyRunning

logger = logging.getLogger("akjob.daemon")

# Set in akjobd and inherited by its job processes: they must never auto-start another akjobd.
IN_DAEMON_ENV = "AKJOB_IN_DAEMON"

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

    def request_reopen(self) -> None: ...


def default_daemon() -> Stoppable:
    from akjob.daemon.loop import Daemon

    return Daemon()


class StopRelay:
    """The signal handler of akjobd: SIGTERM and SIGINT only ask the daemon to stop, even before
    it exists; SIGHUP asks it to reopen its log files (logrotate's convention)."""

    signals = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)

    def __init__(self) -> None:
        self.requested = False
        self._daemon: Stoppable | None = None

    def attach(self, daemon: Stoppable) -> None:
        self._daemon = daemon
        if self.requested:
            daemon.request_stop()

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        if signum == signal.SIGHUP:
            if self._daemon is not None and hasattr(self._daemon, "request_reopen"):
                self._daemon.request_reopen()
            return
        self.requested = True
        if self._daemon is not None:
            self._daemon.request_stop()


def take_locks(paths: Paths) -> list[LockFile]:
    """The pid-file lock and, on SQLite, the database lock; or :class:`DaemonAlreadyRunning`."""
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


def already_running(exc: DaemonAlreadyRunning) -> str:
    """``akjobd is already running … (pid N)`` for the lock that was found taken."""
    path = getattr(exc, "path", None)
    pid = getattr(exc, "pid", None)
    if path is not None and pid is None:
        pid = wait_for_pid(path, 5.0)  # a daemon just starting writes its pid a moment later
    where = ""
    if path is not None and str(path).endswith(dblock.SUFFIX):
        where = f" on database {str(path)[: -len(dblock.SUFFIX)]}"
    return f"akjobd is already running{where} (pid {pid or 'unknown'})"


def serve(relay: StopRelay, daemon_factory: Callable[[], Stoppable]) -> int:
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
