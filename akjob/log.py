"""akjobd's log files.

akjob logs to ordinary ``logging`` loggers under ``akjob.`` that propagate, so a project's
``LOGGING`` setting can route them anywhere. Only the daemon process (and the job processes it
starts) also writes akjob's own files, in the log directory:

- ``akjobd.log``: every ``akjob.*`` logger except the job loggers (``akjob.daemon`` and the rest),
  and the project's own loggers outside of runs;
- ``akjob.job.log``: ``akjob.job`` and the loggers below it, and every other logger's records
  emitted while a job's code runs (``logging.getLogger(__name__)`` in a job module), with the
  job's and the run's id;
- the files named by :class:`akjob.akjob_logger.AkjobLogging` for job code.

The project's loggers reach these files through handlers on the root logger, added in the daemon
only; job processes are forked from it after that, so job code needs no set-up. A record goes to
one akjob file only: the one attached closest to its logger. Files rotate at midnight and 15 days
are kept. Writing a file from one process only is what keeps rotation sane, so nothing here runs
at import time or in the web process. docs/logging.md says how to configure it.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
import threading
from datetime import UTC, datetime
from logging.handlers import TimedRotatingFileHandler
from pathlib import Path
from typing import IO, Any

ROOT_LOGGER = "akjob"
DAEMON_LOGGER = "akjob.daemon"
JOB_LOGGER = "akjob.job"
DAEMON_LOG = "akjobd.log"
JOB_LOG = "akjob.job.log"
OUT_FILE = "akjobd.out"
FORMAT = "%(asctime)s %(levelname)s %(name)s [pid %(process)d] %(message)s"
# Records of the project's loggers emitted while a job's code runs.
RUN_FORMAT = (
    "%(asctime)s %(levelname)s %(name)s [job %(akjob_job)s run %(akjob_run)s pid %(process)d] "
    "%(message)s"
)
BACKUP_COUNT = 15

_lock = threading.RLock()


class _State:
    def __init__(self) -> None:
        self.log_dir: Path | None = None
        self.handlers: dict[Path, TimedRotatingFileHandler] = {}
        self.attached: list[tuple[logging.Logger, logging.Handler]] = []
        self.routes: dict[str, tuple[str, str]] = {}
        self.level_set: list[tuple[logging.Logger, int]] = []  # with the level before
        self.daemon = ""  # host:pid of the akjobd whose files these are


_state = _State()


class _OneFilePerRecord(logging.Filter):
    """Let a record into the first akjob file handler that sees it, and no other one.

    Handlers are called from the record's own logger upward, so the file attached closest to the
    logger wins (``akjob.job.*`` goes to akjob.job.log and not also to akjobd.log).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "_akjob_file", None):
            return False
        record._akjob_file = True
        return True


def _is_akjob(record: logging.LogRecord) -> bool:
    return record.name == ROOT_LOGGER or record.name.startswith(ROOT_LOGGER + ".")


class RunContext(logging.Filter):
    """Give each record ``akjob_job`` and ``akjob_run``: the ids of the run whose code emits it
    (:func:`akjob.context.current_run`), ``-`` outside a run. Usable in a project's ``LOGGING``
    (``"()": "akjob.log.RunContext"``) to put the ids in its own handlers' format."""

    def filter(self, record: logging.LogRecord) -> bool:
        from akjob.context import current_run

        run = current_run()
        record.akjob_job = run.job_id if run else "-"
        record.akjob_run = run.run_id if run and run.run_id is not None else "-"
        return True


class _ProjectRecords(RunContext):
    """On a file handler of the root logger: let the project's records (not akjob's, which come
    through their own loggers) in when emitted inside a run (``inside``) or outside one."""

    def __init__(self, *, inside: bool) -> None:
        super().__init__()
        self.inside = inside

    def filter(self, record: logging.LogRecord) -> bool:
        if _is_akjob(record):
            return True
        super().filter(record)
        in_run = record.akjob_job != "-"  # type: ignore[attr-defined]
        record._akjob_in_run = in_run
        return in_run == self.inside


class _PerLoggerFormatter(logging.Formatter):
    """One file, one handler, but each logger routed there may bring its own format, and the
    project's records from inside a run carry the run's ids."""

    def __init__(self, default: str) -> None:
        super().__init__(default)
        self.by_logger: dict[str, logging.Formatter] = {}
        self.in_run = logging.Formatter(RUN_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        if getattr(record, "_akjob_in_run", False) and not _is_akjob(record):
            return self.in_run.format(record)
        name = record.name
        while name:
            formatter = self.by_logger.get(name)
            if formatter is not None:
                return formatter.format(record)
            name = name.rpartition(".")[0]
        return super().format(record)


# The record attributes a JSON line takes its run fields from (see :func:`run_fields`).
RUN_FIELDS = {
    "akjob_job": "job",
    "akjob_run": "run",
    "akjob_occurrence": "occurrence",
    "akjob_status": "status",
    "akjob_lateness": "lateness",
    "akjob_attempt": "attempt",
}


class JsonFormatter(logging.Formatter):
    """One JSON object per line (``AKJOB_LOG_FORMAT = "json"``): time (UTC, ISO 8601), level,
    logger, message, daemon (host:pid), process, and, where the record is about a run, job,
    run, occurrence, status and lateness (seconds). An exception's traceback is in
    ``exception``. See docs/logging.md."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "daemon": _state.daemon or None,
            "process": record.process,
        }
        for attribute, key in RUN_FIELDS.items():
            value = getattr(record, attribute, None)
            if value is not None and value != "-":
                line[key] = value
        if "job" not in line:
            from akjob.context import current_run

            run = current_run()
            if run is not None:
                line["job"] = run.job_id
                if run.run_id is not None:
                    line["run"] = run.run_id
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def run_fields(claimed: Any, status: str | None = None) -> dict[str, Any]:
    """``extra`` for a log record about a run: job and run ids, occurrence, status, lateness."""
    fields: dict[str, Any] = {
        "akjob_job": claimed.job_id,
        "akjob_run": claimed.run_id,
        "akjob_occurrence": claimed.scheduled.isoformat(),
    }
    if status is not None:
        fields["akjob_status"] = str(status)
    attempt = getattr(claimed, "attempt", 1)
    if attempt != 1:
        fields["akjob_attempt"] = attempt
    started = getattr(getattr(claimed, "job", None), "_last_run", None)
    if attempt == 1 and isinstance(started, datetime) and started.tzinfo is not None:
        fields["akjob_lateness"] = round((started - claimed.scheduled).total_seconds(), 3)
    return fields


def _formatter(filename: str) -> logging.Formatter:
    from akjob.conf import akjob_settings

    if akjob_settings.log_format == "json" and filename in (DAEMON_LOG, JOB_LOG):
        return JsonFormatter()
    return _PerLoggerFormatter(FORMAT)


def configure_daemon_logging(
    log_dir: str | Path, *, stderr: bool = False, level: int = logging.INFO
) -> list[IO[Any]]:
    """Attach akjob's file handlers in this process (idempotent); return the open log streams.

    ``stderr`` also echoes every record that reaches the root logger to standard error
    (``akjobd run``). The ``akjob`` logger gets ``level`` unless the project's LOGGING gave it
    one, and so does the root logger (which the project's loggers inherit their level from)
    unless LOGGING configures it.
    """
    with _lock:
        log_dir = Path(log_dir).resolve()
        if _state.log_dir is not None and _state.log_dir != log_dir:
            reset()
        log_dir.mkdir(parents=True, exist_ok=True)
        _state.log_dir = log_dir
        _state.daemon = f"{socket.gethostname()}:{os.getpid()}"
        akjob, root = logging.getLogger(ROOT_LOGGER), logging.getLogger()
        if akjob.level == logging.NOTSET:
            _set_level(akjob, level)
        if not _root_configured() and root.level > level:
            _set_level(root, level)
        daemon_file, job_file = _file_handler(DAEMON_LOG), _file_handler(JOB_LOG)
        _attach(akjob, daemon_file)
        _attach(logging.getLogger(JOB_LOGGER), job_file)
        _attach(root, job_file)  # the project's records from inside runs
        _attach(root, daemon_file)  # and from outside them
        for name, (filename, fmt) in _state.routes.items():
            _route_now(name, filename, fmt)
        if stderr and not any(getattr(h, "_akjob_stderr", False) for _, h in _state.attached):
            echo = logging.StreamHandler(sys.stderr)
            echo.setFormatter(logging.Formatter(FORMAT))
            echo._akjob_stderr = True  # type: ignore[attr-defined]
            _attach(root, echo)
        return open_streams()


def _set_level(logger: logging.Logger, level: int) -> None:
    if all(known is not logger for known, _ in _state.level_set):
        _state.level_set.append((logger, logger.level))
    logger.setLevel(level)


def _root_configured() -> bool:
    """Whether the project's ``LOGGING`` setting configures the root logger."""
    from django.conf import settings

    config = getattr(settings, "LOGGING", None) or {}
    return "root" in config or "" in (config.get("loggers") or {})


def keep_previous_out(log_dir: str | Path, keep: int) -> None:
    """Before a start empties akjobd.out: keep the previous one as akjobd.out.1, shifting the
    earlier ones up to akjobd.out.``keep`` (the oldest beyond that is dropped). An empty
    akjobd.out holds nothing to read and is not kept."""
    out = Path(log_dir) / OUT_FILE
    try:
        if out.stat().st_size == 0:
            return
    except FileNotFoundError:
        return
    for number in range(keep - 1, 0, -1):
        older = out.with_name(f"{OUT_FILE}.{number}")
        if older.exists():
            older.replace(out.with_name(f"{OUT_FILE}.{number + 1}"))
    out.replace(out.with_name(f"{OUT_FILE}.1"))


def is_configured() -> bool:
    """Whether akjob's log files are written by this process."""
    return _state.log_dir is not None


def route(logger_name: str, filename: str, fmt: str) -> None:
    """Send ``logger_name`` to ``filename`` in the log directory, in format ``fmt``.

    Remembered until (and applied when) the daemon's logging is configured in this process.
    """
    with _lock:
        _state.routes[logger_name] = (filename, fmt)
        if _state.log_dir is not None:
            _route_now(logger_name, filename, fmt)


def reopen_files() -> None:
    """Reopen every log file this process writes (SIGHUP, once logrotate moved them): the file
    handlers of akjob and of the project, and, in the background daemon, akjobd.out behind
    standard output and error."""
    loggers: list[Any] = [logging.getLogger()]
    loggers += list(logging.Logger.manager.loggerDict.values())
    for logger in loggers:
        for handler in getattr(logger, "handlers", ()):
            if isinstance(handler, logging.FileHandler):
                handler.acquire()
                try:
                    handler.close()
                    handler.stream = handler._open()
                finally:
                    handler.release()
    out = _state.log_dir / OUT_FILE if _state.log_dir is not None else None
    if out is not None and os.path.isfile(f"/proc/self/fd/{sys.stdout.fileno()}"):
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        fd = os.open(out, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)


def open_streams() -> list[IO[Any]]:
    """Streams of every log handler in this process, for python-daemon's ``files_preserve``.

    The project's own file handlers are included, or daemonizing would close their files.
    """
    loggers: list[Any] = [logging.getLogger()]
    loggers += list(logging.Logger.manager.loggerDict.values())
    streams: list[IO[Any]] = []
    for logger in loggers:
        for handler in getattr(logger, "handlers", ()):
            stream = getattr(handler, "stream", None)
            if stream is not None and hasattr(stream, "fileno") and stream not in streams:
                streams.append(stream)
    return streams


def reset() -> None:
    """Detach and close akjob's handlers (tests, or a change of log directory)."""
    with _lock:
        for logger, handler in _state.attached:
            logger.removeHandler(handler)
        for handler in _state.handlers.values():
            handler.close()
        for logger, before in _state.level_set:
            logger.setLevel(before)
        routes = _state.routes
        _state.__init__()  # type: ignore[misc]
        _state.routes = routes


def _no_rollover_in_children() -> None:
    """Forked job processes write to the inherited files but leave rotating them to akjobd:
    two processes renaming one file at midnight would delete a day of log."""
    for handler in _state.handlers.values():
        handler.rolloverAt = sys.maxsize


os.register_at_fork(after_in_child=_no_rollover_in_children)


def _file_handler(filename: str) -> TimedRotatingFileHandler:
    assert _state.log_dir is not None
    path = (_state.log_dir / filename).resolve()
    handler = _state.handlers.get(path)
    if handler is None:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = TimedRotatingFileHandler(
            path, when="midnight", backupCount=BACKUP_COUNT, encoding="utf-8"
        )
        handler.setFormatter(_formatter(filename))
        if filename in (JOB_LOG, DAEMON_LOG):  # these two also take the project's records
            handler.addFilter(_ProjectRecords(inside=filename == JOB_LOG))
        handler.addFilter(_OneFilePerRecord())
        _state.handlers[path] = handler
    return handler


def _attach(logger: logging.Logger, handler: logging.Handler) -> None:
    if handler not in logger.handlers:
        logger.addHandler(handler)
        _state.attached.append((logger, handler))


def _route_now(logger_name: str, filename: str, fmt: str) -> None:
    handler = _file_handler(filename)
    formatter = handler.formatter
    if isinstance(formatter, _PerLoggerFormatter):
        formatter.by_logger[logger_name] = logging.Formatter(fmt)
    _attach(logging.getLogger(logger_name), handler)
