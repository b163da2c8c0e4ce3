"""The job actions of ``manage.py akjobd``: plain functions that return the text to print.

They raise :class:`~akjob.exceptions.JobNotFound` for an unknown id; the management command turns
that into a one-line error and a non-zero exit status.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from django.db import transaction

from akjob.daemon.runtime import EXIT_OK, Outcome
from akjob.exceptions import JobCodeError, JobNotFound
from akjob.timeutil import to_aware

DAY_SETS = (
    "monthly_days_list",
    "weekly_days_list",
    "active_monthly_days_list",
    "active_weekly_days_list",
    "active_months_list",
)
HIDDEN_FIELDS = {"id", "_job_code"}
LAST_RUNS = 5


def get_job(job_id: int) -> Any:
    from akjob.models import Job

    try:
        return Job.objects.get(pk=job_id)
    except Job.DoesNotExist:
        raise JobNotFound(f"no job with id {job_id}") from None


def when(value: datetime | None) -> str:
    aware = to_aware(value)
    return aware.strftime("%Y-%m-%d %H:%M:%S UTC") if aware else "-"


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A plain-text table, columns padded to their widest cell."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)


def _runs(job: Any) -> str:
    limit = f"/{job.run_count_limit}" if job.run_count_limit is not None else ""
    return f"{job._run_count}{limit}"


def joblist() -> str:
    """Every job: id, name, enabled, next run, last run, runs/limit, schedule."""
    from akjob.models import Job

    rows = [
        (
            job.pk,
            job.name,
            "yes" if job.job_enabled else "no",
            when(job._next_run),
            when(job._last_run),
            _runs(job),
            job.describe(),
        )
        for job in Job.objects.order_by("pk")
    ]
    if not rows:
        return "No jobs."
    headers = ("id", "name", "enabled", "next run", "last run", "runs", "schedule")
    return table(headers, rows)


def set_enabled(job_id: int, enabled: bool) -> str:
    """``enablejob`` / ``disablejob``: saved through ``Job.save()``, which reschedules."""
    job = get_job(job_id)
    job.job_enabled = enabled
    job.save()
    state = "enabled" if enabled else "disabled"
    return f"Job {job.pk} ({job.name or 'unnamed'}) {state}; next run {when(job._next_run)}."


def delete_job(job_id: int) -> str:
    job = get_job(job_id)
    name = job.name or "unnamed"
    job.delete()
    return f"Job {job_id} ({name}) deleted."


def _code_object(job: Any) -> str:
    if job._job_code is None:
        return "none"
    try:
        return repr(job.job_code_object)
    except JobCodeError as exc:
        return f"cannot be loaded: {exc}"


def fields(job: Any) -> list[tuple[str, str]]:
    """Every field of the job, as (name, shown value)."""
    shown = [("id", str(job.pk))]
    for field in job._meta.concrete_fields:
        if field.name in HIDDEN_FIELDS:
            continue
        value = getattr(job, field.attname)
        if isinstance(value, datetime):
            value = when(value)
        shown.append((field.name, "-" if value is None or value == "" else str(value)))
    shown.append(("dates_list", ", ".join(when(d) for d in job.dates_list) or "-"))
    for name in DAY_SETS:
        shown.append((name, ", ".join(str(d) for d in getattr(job, name)) or "-"))
    shown.append(("job_code_object", _code_object(job)))
    return shown


def showinfo(job_id: int, *, count: int = 10) -> str:
    """All fields, the schedule in words, the next ``count`` run times and the last runs."""
    job = get_job(job_id)
    lines = [f"Job {job.pk}: {job.name or 'unnamed'}", f"schedule: {job.describe()}", ""]
    width = max(len(name) for name, _ in fields(job))
    lines += [f"{name.ljust(width)}  {value}" for name, value in fields(job)]
    upcoming = job.upcoming(count)
    lines += ["", f"Next {count} run times:"]
    lines += [f"  {when(t)}" for t in upcoming] or ["  none"]
    lines += ["", "Last runs:", _runs_table(job.runs.all()[:LAST_RUNS], indent="  ")]
    return "\n".join(lines)


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


def run_status(run: Any) -> str:
    """A run's status; for a run handed to a task backend, with the task's status after it."""
    task = task_state(run)
    return f"{run.status}, {task}" if task else run.status


def _runs_table(runs: Iterable[Any], *, indent: str = "") -> str:
    rows = [
        (when(r.scheduled), when(r.started), when(r.finished), run_status(r), error_line(r.error))
        for r in runs
    ]
    if not rows:
        return f"{indent}none"
    text = table(("scheduled", "started", "finished", "status", "error"), rows)
    return "\n".join(indent + line for line in text.splitlines())


def history(job_id: int) -> str:
    """The job's run records, newest first."""
    job = get_job(job_id)
    title = f"Runs of job {job.pk} ({job.name or 'unnamed'}), newest first:"
    return f"{title}\n{_runs_table(job.runs.order_by('-scheduled', '-id'))}"


def reloadfixture() -> str:
    """Make the DayOfMonth, DayOfWeek and Months tables hold exactly their rows again.

    Rows outside the valid ranges are deleted and missing rows added; the valid rows stay, so the
    jobs' day sets that point at them are kept.
    """
    from akjob import daytables, models

    removed = 0
    with transaction.atomic():
        for name, (field, numbers) in daytables.ROWS.items():
            model = getattr(models, name)
            extra = model.objects.exclude(**{f"{field}__in": list(numbers)})
            removed += extra.delete()[1].get(model._meta.label, 0)
        added = daytables.fill(lambda name: getattr(models, name))
    return f"Day tables reloaded: {added} rows added, {removed} removed."


def runjob(job_id: int) -> Outcome:
    """Run the job now (``akjob.daemon.runnow.run_job_now``)."""
    from akjob.daemon.runnow import run_job_now

    job = get_job(job_id)
    return Outcome(EXIT_OK, str(run_job_now(job.pk, here=True)))
