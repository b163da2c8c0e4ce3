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

from akjob import log
from akjob.conf import akjob_settings
from akjob.daemon import dblock
from akjob.daemon.pidfile import LockFile, PidFile, check_pid_name, check_pid_path, wait_for_pid
from akjob.exceptions import DaemonAlreadyRunning, DaemonError

logger = logging.getLogger("akjob.daemon")

# Set in akjobd and inherited by its job processes: they must never auto-start another akjobd.
IN_DAEMON_ENV = "AKJOB_IN_DAEMON"

# The locks this akjobd holds, and whether its log lines are echoed to stderr: what a reload
# hands over to the next program (see akjob.daemon.reload).
HELD_LOCKS: list[LockFile] = []
ECHO_STDERR = False

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
        """The paths, checked before anything is written (docs/daemon.md): the pid file name is
        a plain file name, the pid file, when it exists, is an akjobd pid file, and the log
        files in a log directory given as an option are, when they exist, regular files.
        Raises :class:`DaemonError` with the reason."""
        name = pidname or akjob_settings.pid_name
        check_pid_name(name)
        pid_dir = Path(piddir) if piddir else akjob_settings.pid_dir
        log_dir = Path(logdir) if logdir else akjob_settings.log_dir
        paths = cls((pid_dir / name).absolute(), log_dir.absolute())
        check_pid_path(paths.pid_file)
        if logdir:
            check_log_dir(paths.log_dir)
        return paths


def check_log_dir(log_dir: Path) -> None:
    """Raise :class:`DaemonError` unless each log file akjobd writes in ``log_dir`` is, when it
    exists, a regular file (not a link, not a directory). A log directory that is not one is
    refused by the system check ``akjob.E003`` before ``start``, ``run`` and ``restart``."""
    if not log_dir.is_dir():
        return
    for name in (log.OUT_FILE, log.DAEMON_LOG, log.JOB_LOG):
        path = log_dir / name
        if path.is_symlink() or (path.exists() and not path.is_file()):
            raise DaemonError(
                f"{path} is not a regular file (a symbolic link, a directory or a device); "
                "akjobd writes its logs only into regular files it can create or append to"
            )


class Stoppable(Protocol):
    def run(self) -> None: ...

    def request_stop(self) -> None: ...

    def request_reopen(self) -> None: ...

    def request_reload(self) -> None: ...


def default_daemon() -> Stoppable:
    from akjob.daemon.loop import Daemon
    from akjob.daemon.reload import resume_state
    from akjob.syncpoints import at_daemon_start

    at_daemon_start()  # the schedules declared in code, as this code declares them
    return Daemon(resume=resume_state())


class StopRelay:
    """The signal handler of akjobd: SIGTERM and SIGINT only ask the daemon to stop, even before
    it exists; SIGHUP asks it to reopen its log files (logrotate's convention); SIGUSR1 to load
    the code on disk afresh (``akjobd reload``)."""

    signals = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1)

    def __init__(self) -> None:
        self.requested = False
        self._daemon: Stoppable | None = None

    def attach(self, daemon: Stoppable) -> None:
        self._daemon = daemon
        if self.requested:
            daemon.request_stop()

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        if signum in (signal.SIGHUP, signal.SIGUSR1):
            name = "request_reopen" if signum == signal.SIGHUP else "request_reload"
            if self._daemon is not None and hasattr(self._daemon, name):
                getattr(self._daemon, name)()
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
