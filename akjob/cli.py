"""The job actions of ``manage.py akjobd``: plain functions that return the text to print.

They raise :class:`~akjob.exceptions.JobNotFound` for an unknown id; the management command turns
that into a one-line error and a non-zero exit status. Times are shown in each job's zone (its
``timezone``, else ``AKJOB_DEFAULT_TIMEZONE``), always with the zone's name. The same data for
scripts, as JSON, is in :mod:`akjob.clijson`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, tzinfo
from typing import Any

from django.db import transaction
from django.db.models import Exists, OuterRef, QuerySet, Subquery

from akjob.daemon.runtime import EXIT_OK, Outcome
from akjob.exceptions import JobCodeError, JobNotFound
from akjob.jobschedule import forecast, job_zone
from akjob.text import error_line, run_status, when, zone_name
from akjob.timeutil import utcnow

DAY_SETS = (
    "monthly_days_list",
    "weekly_days_list",
    "active_monthly_days_list",
    "active_weekly_days_list",
    "active_months_list",
)
HIDDEN_FIELDS = {"id", "_job_code"}
LAST_RUNS = 5
NEXT_COUNT = 10


def get_job(job_id: int) -> Any:
    from akjob.models import Job

    try:
        return with_run_state(Job.objects.all()).get(pk=job_id)
    except Job.DoesNotExist:
        raise JobNotFound(f"no job with id {job_id}") from None


def with_run_state(jobs: QuerySet[Any]) -> QuerySet[Any]:
    """Annotate ``last_result`` (the status of the job's latest run that is not in progress)
    and ``in_progress`` (whether a run of the job is running now)."""
    from akjob.models import JobRun

    runs = JobRun.objects.filter(job=OuterRef("pk"))
    done = runs.exclude(status=JobRun.Status.RUNNING).order_by("-scheduled", "-id")
    return jobs.annotate(
        last_result=Subquery(done.values("status")[:1]),
        in_progress=Exists(runs.filter(status=JobRun.Status.RUNNING)),
    )


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
    """Every job: id, name, enabled, next run, last run, last result, running, runs, schedule."""
    from akjob.models import Job

    rows = []
    for job in with_run_state(Job.objects.order_by("pk")):
        zone = job_zone(job)
        rows.append(
            (
                job.pk,
                job.name,
                "yes" if job.job_enabled else "no",
                when(job._next_run, zone),
                when(job._last_run, zone),
                job.last_result or "-",
                "yes" if job.in_progress else "no",
                _runs(job),
                job.describe(),
            )
        )
    if not rows:
        return "No jobs."
    headers = ("id", "name", "enabled", "next run", "last run", "last result", "running", "runs")
    return table((*headers, "schedule"), rows)


def set_enabled(job_id: int, enabled: bool) -> str:
    """``enablejob`` / ``disablejob``: saved through ``Job.save()``, which reschedules."""
    job = get_job(job_id)
    job.job_enabled = enabled
    job.save()
    state = "enabled" if enabled else "disabled"
    nxt = when(job._next_run, job_zone(job))
    return f"Job {job.pk} ({job.name or 'unnamed'}) {state}; next run {nxt}."


def delete_job(job_id: int) -> str:
    job = get_job(job_id)
    name = job.name or "unnamed"
    job.delete()
    return f"Job {job_id} ({name}) deleted."


def code_object(job: Any) -> str | None:
    """The code object as its repr, or why it cannot be loaded; None when there is none."""
    if job._job_code is None:
        return None
    try:
        return repr(job.job_code_object)
    except JobCodeError as exc:
        return f"cannot be loaded: {exc}"


def fields(job: Any) -> list[tuple[str, str]]:
    """Every field of the job, as (name, shown value)."""
    zone = job_zone(job)
    shown = [("id", str(job.pk))]
    for field in job._meta.concrete_fields:
        if field.name in HIDDEN_FIELDS:
            continue
        value = getattr(job, field.attname)
        if isinstance(value, datetime):
            value = when(value, zone)
        shown.append((field.name, "-" if value is None or value == "" else str(value)))
    shown.append(("dates_list", ", ".join(when(d, zone) for d in job.dates_list) or "-"))
    for name in DAY_SETS:
        shown.append((name, ", ".join(str(d) for d in getattr(job, name)) or "-"))
    shown.append(("job_code_object", code_object(job) or "none"))
    return shown


def showinfo(job_id: int, *, count: int = NEXT_COUNT) -> str:
    """All fields, the schedule in words, the next ``count`` run times (or why there are none)
    and the last runs."""
    job = get_job(job_id)
    zone = job_zone(job)
    lines = [
        f"Job {job.pk}: {job.name or 'unnamed'}",
        f"schedule: {job.describe()}",
        f"time zone: {zone_name(zone)}",
        f"running: {'yes' if job.in_progress else 'no'}; last result: {job.last_result or '-'}",
    ]
    if job.code_key is not None:
        removed = f"; removed from the code on {when(job.code_removed)}" if job.code_removed else ""
        lines.append(
            f"declared in code: {job.declared_path or '?'} (key {job.code_key}){removed}; "
            "its schedule changes with the code (docs/schedules-in-code.md)"
        )
    lines.append("")
    width = max(len(name) for name, _ in fields(job))
    lines += [f"{name.ljust(width)}  {value}" for name, value in fields(job)]
    found = forecast(job, after=utcnow(), count=count)
    lines += ["", f"Next {count} run times:"]
    lines += [f"  {when(t, zone)}" for t in found.times] or ["  none"]
    if found.reason:
        lines.append(f"No next run: {found.reason}")
    last = _runs_table(job.runs.all()[:LAST_RUNS], zone, indent="  ")
    lines += ["", "Last runs:", last]
    return "\n".join(lines)


def _runs_table(runs: Iterable[Any], zone: tzinfo, *, indent: str = "") -> str:
    rows = [
        (
            when(r.scheduled, zone),
            when(r.started, zone),
            when(r.finished, zone),
            run_status(r, zone),
            error_line(r.error),
        )
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
    return f"{title}\n{_runs_table(job.runs.order_by('-scheduled', '-id'), job_zone(job))}"


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
