"""The text of ``akjobd status`` for a running daemon, read from the pid file and the database."""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path

from django.db import DatabaseError

from akjob.timeutil import to_aware


def describe_running(pid: int | None, pid_file: Path, *, now: datetime | None = None) -> str:
    """Several lines: pid, uptime, last heartbeat, runs in progress, next due job."""
    now = now or datetime.now(UTC)
    lines = [f"akjobd is running (pid {pid or 'unknown'})", f"pid file: {pid_file}"]
    try:
        lines += _from_database(pid, pid_file, now)
    except DatabaseError as exc:
        lines.append(f"database: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}")
    return "\n".join(lines)


def _from_database(pid: int | None, pid_file: Path, now: datetime) -> list[str]:
    from akjob.models import DaemonRecord, Job, JobRun

    record = (
        DaemonRecord.objects.filter(pid=pid, host=socket.gethostname(), stopped__isnull=True)
        .order_by("-started")
        .first()
        if pid is not None
        else None
    )
    started = to_aware(record.started) if record else _file_time(pid_file)
    lines = []
    if started is not None:
        lines.append(f"started: {_when(started)} (up {_duration(now - started)})")
    if record is not None:
        beat = to_aware(record.heartbeat)
        lines.append(f"last heartbeat: {_when(beat)} ({_duration(now - beat)} ago)")
    else:
        lines.append("last heartbeat: none recorded")
    running = list(
        JobRun.objects.filter(status=JobRun.Status.RUNNING).values_list("job_id", "job_name")
    )
    names = ", ".join(f"{name or 'job'} (id {job_id})" for job_id, name in running[:5])
    more = f", … {len(running) - 5} more" if len(running) > 5 else ""
    lines.append(f"runs in progress: {len(running)}" + (f": {names}{more}" if running else ""))
    nxt = (
        Job.objects.filter(job_enabled=True, _next_run__isnull=False).order_by("_next_run").first()
    )
    if nxt is None:
        lines.append("next due: no job scheduled")
    else:
        lines.append(
            f"next due: {_when(to_aware(nxt._next_run))} {nxt.name or 'job'} (id {nxt.pk})"
        )
    return lines


def _file_time(path: Path) -> datetime | None:
    try:
        return datetime.fromtimestamp(path.stat().st_mtime, UTC)
    except OSError:
        return None


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value else "never"


def _duration(delta: timedelta) -> str:
    seconds = max(int(delta.total_seconds()), 0)
    days, seconds = divmod(seconds, 86400)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    parts = [f"{days}d"] if days else []
    if days or hours:
        parts.append(f"{hours}h")
    if days or hours or minutes:
        parts.append(f"{minutes}m")
    parts.append(f"{seconds}s")
    return " ".join(parts)
