"""How ``akjobd start`` knows the daemon really started: its first heartbeat.

A daemon that forked and reported its pid may still fail at once (a database it cannot write, a
table missing). ``start`` therefore waits, up to ``AKJOB_START_TIMEOUT``, for the daemon's
``DaemonRecord`` row (written by its first loop step); a daemon that exits or stays silent is
stopped, and the reason is read from what it wrote to akjobd.log and akjobd.out.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import time
from collections.abc import Callable
from contextlib import suppress
from datetime import datetime
from pathlib import Path

from akjob import log
from akjob.daemon.pidfile import is_running

POLL = 0.05  # seconds between looks at the database
STOP_WAIT = 10.0  # seconds a silent daemon gets to stop on SIGTERM before SIGKILL
# A line of akjobd.log: "2027-06-07 09:00:00,123 ERROR akjob.daemon [pid 42] message".
LOG_LINE = re.compile(r"^\S+ \S+ (?P<level>[A-Z]+) \S+ \[[^\]]*\] (?P<message>.*)$")
PROBLEMS = frozenset({"WARNING", "ERROR", "CRITICAL"})


def heartbeat_written(pid: int, since: datetime) -> bool:
    """Whether the daemon ``pid`` of this host registered (its DaemonRecord) since ``since``."""
    from django.db import DatabaseError

    from akjob.models import DaemonRecord
    from akjob.timeutil import to_db

    rows = DaemonRecord.objects.filter(
        pid=pid, host=socket.gethostname(), started__gte=to_db(since)
    )
    try:
        return rows.exists()
    except DatabaseError:
        return False  # busy (SQLite locked): look again


def await_heartbeat(
    pid: int,
    pid_file: Path,
    *,
    since: datetime,
    deadline: float,
    timeout: float,
    beat: Callable[[int, datetime], bool] = heartbeat_written,
) -> str | None:
    """None once the daemon wrote its first heartbeat; else why not, in a few words (``timeout``
    is the whole wait that ends at ``deadline``, for the words)."""
    while not beat(pid, since):
        if not is_running(pid_file):
            return "it exited before its first heartbeat"
        if time.monotonic() >= deadline:
            return f"it wrote no heartbeat within {timeout:g} s (AKJOB_START_TIMEOUT)"
        time.sleep(POLL)
    return None


def stop_silent(pid: int, pid_file: Path) -> None:
    """Stop a daemon that never got going: SIGTERM, then SIGKILL if it holds on."""
    for signum, wait in ((signal.SIGTERM, STOP_WAIT), (signal.SIGKILL, 2.0)):
        if not is_running(pid_file):
            return
        with suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signum)
        deadline = time.monotonic() + wait
        while is_running(pid_file) and time.monotonic() < deadline:
            time.sleep(POLL)


def size(path: Path) -> int:
    """The file's size, 0 when it does not exist: where the lines of this start begin."""
    try:
        return path.stat().st_size
    except OSError:
        return 0


def log_reason(log_dir: Path, daemon_log_from: int) -> str:
    """What the daemon said went wrong: the last warning or error it logged to akjobd.log since
    ``daemon_log_from`` (with its exception), and the last line of akjobd.out."""
    parts = []
    problem = last_problem(_read(log_dir / log.DAEMON_LOG, daemon_log_from))
    if problem:
        parts.append(f"{log.DAEMON_LOG}: {problem}")
    out = [line.strip() for line in _read(log_dir / log.OUT_FILE, 0).splitlines() if line.strip()]
    if out:
        parts.append(f"{log.OUT_FILE}: {out[-1]}")
    return "; ".join(parts) or f"nothing logged; see {log_dir}"


def last_problem(text: str) -> str | None:
    """The message of the last WARNING/ERROR/CRITICAL line of a log, followed by the exception
    of the traceback under it, if any."""
    problem, exception = None, None
    for line in text.splitlines():
        match = LOG_LINE.match(line)
        if match:
            if match["level"] in PROBLEMS:
                problem, exception = match["message"].strip(), None
            continue
        if problem and line.strip() and not line.startswith((" ", "\t", "Traceback")):
            exception = line.strip()
    if problem and exception and exception not in problem:
        return f"{problem}: {exception}"
    return problem


def _read(path: Path, offset: int) -> str:
    try:
        with path.open("rb") as f:
            f.seek(offset)
            return f.read().decode(errors="replace")
    except OSError:
        return ""
