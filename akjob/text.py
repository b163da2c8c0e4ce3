"""The words akjob shows people, in one place: times with their zones, durations, run outcomes.

Both the admin and ``manage.py akjobd showinfo/history`` render through these functions, so a run
or a time reads the same on a page and in a terminal. Plain text only; the admin escapes it.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from akjob.timeutil import to_aware

DASH = "-"
UNITS = (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1))
# The words a duration may be typed with, and the seconds each stands for.
UNIT_WORDS = {
    "d": 86400,
    "day": 86400,
    "days": 86400,
    "h": 3600,
    "hr": 3600,
    "hrs": 3600,
    "hour": 3600,
    "hours": 3600,
    "m": 60,
    "min": 60,
    "mins": 60,
    "minute": 60,
    "minutes": 60,
    "s": 1,
    "sec": 1,
    "secs": 1,
    "second": 1,
    "seconds": 1,
}
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([a-z]+)")
_CLOCK = re.compile(r"^(?:(\d+)\s*(?:days?,?\s*|\s))?(\d+):(\d{1,2})(?::(\d{1,2}(?:\.\d{1,6})?))?$")
MAX_DURATION_TEXT = 100  # characters: anything longer is not a duration a person typed


def zone_name(zone: tzinfo) -> str:
    """``Europe/Paris`` for a ZoneInfo, ``UTC`` for UTC."""
    if zone is UTC:
        return "UTC"
    return str(getattr(zone, "key", None) or zone)


def when(value: datetime | None, zone: tzinfo = UTC) -> str:
    """A time in ``zone``, with the zone: ``2027-06-07 11:00:00 UTC`` or
    ``2027-06-07 13:00:00+02:00 Europe/Paris``; ``-`` for none."""
    aware = to_aware(value)
    if aware is None:
        return DASH
    name = zone_name(zone)
    if name == "UTC":
        return aware.strftime("%Y-%m-%d %H:%M:%S UTC")
    return f"{aware.astimezone(zone).isoformat(sep=' ')} {name}"


def clock_time(value: datetime | None, zone: tzinfo = UTC) -> str:
    """The time of day in ``zone`` with the zone's abbreviation: ``13:00:00 CEST``."""
    aware = to_aware(value)
    if aware is None:
        return DASH
    local = aware.astimezone(zone)
    return f"{local.strftime('%H:%M:%S')} {local.tzname() or zone_name(zone)}"


def duration(value: timedelta | None) -> str:
    """A duration in words, to the second: ``1 hour 30 minutes``, ``90 days``, ``0 seconds``."""
    if value is None:
        return DASH
    seconds = int(value.total_seconds())
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    if seconds == 0:
        return "0 seconds"
    parts = []
    for unit, size in UNITS:
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count} {unit}{'' if count == 1 else 's'}")
    return sign + " ".join(parts)


def parse_duration(text: str) -> timedelta:
    """A duration typed by a person: ``15 minutes``, ``1h30m``, ``90 s``, ``2 days``,
    ``00:15:00``, ``1 day, 2:00:00`` or ``1 02:00:00``; a leading ``-`` makes it negative (for
    the checks to refuse by name). Raises ValueError saying what is accepted."""
    cleaned = text.strip().lower()
    if not cleaned or len(cleaned) > MAX_DURATION_TEXT:
        raise ValueError(_DURATION_HELP)
    sign = -1 if cleaned.startswith("-") else 1
    try:
        return sign * _parse(cleaned.lstrip("-").strip())
    except OverflowError:
        raise ValueError(f"{text.strip()} is far too long for a duration") from None


def _parse(cleaned: str) -> timedelta:
    clock = _CLOCK.match(cleaned)
    if clock:
        days, hours, minutes = (int(g) if g else 0 for g in clock.groups()[:3])
        secs = float(clock.group(4) or 0)
        if minutes > 59 or secs >= 60:
            raise ValueError(_DURATION_HELP)
        return timedelta(days=days, hours=hours, minutes=minutes, seconds=secs)
    if re.fullmatch(r"\d+", cleaned):
        return timedelta(seconds=int(cleaned))
    total = 0.0
    rest = cleaned
    parts = list(_PART.finditer(cleaned))
    for match in parts:
        number, unit = match.groups()
        if unit not in UNIT_WORDS:
            raise ValueError(f"“{unit}” is not a unit of time; {_DURATION_HELP}")
        total += float(number) * UNIT_WORDS[unit]
        rest = rest.replace(match.group(0), " ", 1)
    if not parts or re.sub(r"[\s,]|\band\b", "", rest):
        raise ValueError(_DURATION_HELP)
    return timedelta(seconds=total)


_DURATION_HELP = "write a duration such as “15 minutes”, “1h30m”, “90 s” or “00:15:00”"


def error_line(text: str) -> str:
    """One line of a run's error text: its first line, or a traceback's last (the exception)."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if not lines:
        return ""
    return lines[-1] if lines[0].startswith("Traceback") else lines[0]


def task_state(run: Any) -> str:
    """For a run handed to a task backend, the task's status in words ("task running");
    otherwise ""."""
    if not run.task_backend:
        return ""
    return f"task {(run.task_status or 'unknown').lower()}"


def run_status(run: Any, zone: tzinfo = UTC) -> str:
    """A run's status; for a run handed to a task backend, with the task's status after it;
    with its attempt after the first, and the time of a retry still to come (in ``zone``, as
    the run's other times are shown)."""
    task = task_state(run)
    shown = f"{run.status}, {task}" if task else str(run.status)
    attempt = getattr(run, "attempt", 1) or 1
    if attempt > 1:
        shown += f" (attempt {attempt})"
    retry_at = getattr(run, "retry_at", None)
    if retry_at is not None:
        shown += f", retry at {when(retry_at, zone)}"
    return shown


def run_duration(run: Any) -> str:
    """How long a run took (``12 seconds``), ``-`` while it has not started or finished."""
    started, finished = to_aware(run.started), to_aware(run.finished)
    if started is None or finished is None:
        return DASH
    return duration(finished - started)
