"""``akjobd joblist|showinfo|history --json``: what the text actions show, for scripts.

Times are ISO 8601 strings in UTC (``2027-06-07T11:00:00+00:00``), durations are seconds, and
every job names the zone its times are read in (``timezone``). The fields are listed in
docs/daemon.md; new fields may be added, existing ones keep their name and meaning.
"""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta
from typing import Any

from akjob.cli import (
    DAY_SETS,
    HIDDEN_FIELDS,
    LAST_RUNS,
    NEXT_COUNT,
    code_object,
    get_job,
    with_run_state,
)
from akjob.jobschedule import forecast, job_zone
from akjob.text import error_line, zone_name
from akjob.timeutil import to_aware, utcnow


def dumps(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)


def iso(value: datetime | None) -> str | None:
    aware = to_aware(value)
    return aware.isoformat() if aware is not None else None


def plain(value: Any) -> Any:
    """A field's value as JSON takes it."""
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, date | time):
        return value.isoformat()
    return value


def job_summary(job: Any) -> dict[str, Any]:
    """One job as ``joblist --json`` lists it (``job`` annotated by ``with_run_state``)."""
    return {
        "id": job.pk,
        "name": job.name,
        "enabled": job.job_enabled,
        "next_run": iso(job._next_run),
        "last_run": iso(job._last_run),
        "last_result": job.last_result,
        "running": bool(job.in_progress),
        "run_count": job._run_count,
        "run_count_limit": job.run_count_limit,
        "schedule": job.describe(),
        "timezone": zone_name(job_zone(job)),
    }


def run_record(run: Any) -> dict[str, Any]:
    """One run record."""
    return {
        "id": run.pk,
        "scheduled": iso(run.scheduled),
        "started": iso(run.started),
        "finished": iso(run.finished),
        "status": run.status,
        "error": run.error,
        "error_line": error_line(run.error),
        "missed_count": run.missed_count,
        "host": run.host,
        "pid": run.pid,
        "task_backend": run.task_backend or None,
        "task_status": run.task_status or None,
    }


def joblist() -> str:
    from akjob.models import Job

    return dumps([job_summary(job) for job in with_run_state(Job.objects.order_by("pk"))])


def showinfo(job_id: int, *, count: int = NEXT_COUNT) -> str:
    job = get_job(job_id)
    shown = {
        f.name: plain(getattr(job, f.attname))
        for f in job._meta.concrete_fields
        if f.name not in HIDDEN_FIELDS
    }
    shown["dates_list"] = [iso(d) for d in job.dates_list]
    shown |= {name: list(getattr(job, name)) for name in DAY_SETS}
    shown["job_code_object"] = code_object(job)
    found = forecast(job, after=utcnow(), count=count)
    return dumps(
        job_summary(job)
        | {
            "fields": shown,
            "next_runs": [iso(t) for t in found.times],
            "no_run_reason": found.reason,
            "last_runs": [run_record(r) for r in job.runs.all()[:LAST_RUNS]],
        }
    )


def history(job_id: int) -> str:
    job = get_job(job_id)
    runs = [run_record(r) for r in job.runs.order_by("-scheduled", "-id")]
    return dumps({"job": job_summary(job), "runs": runs})
