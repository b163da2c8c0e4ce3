"""The daemon's hot-path statements, written once as SQL.

Claiming and finishing runs happens hundreds of times a second at peak; building each UPDATE
through the ORM costs more than executing it. These statements are the same compare-and-set
UPDATEs the ORM would write, on every supported database, with values converted by the model
fields themselves.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache

from django.db import connection

from akjob.models import Job, JobRun


def _q(model: type, name: str) -> str:
    return connection.ops.quote_name(model._meta.get_field(name).column)


def _dt(model: type, name: str, value: datetime | None) -> object:
    return model._meta.get_field(name).get_db_prep_value(value, connection)


@cache
def _statements(vendor: str) -> dict[str, str]:
    job = connection.ops.quote_name(Job._meta.db_table)
    run = connection.ops.quote_name(JobRun._meta.db_table)
    nxt, running = _q(Job, "_next_run"), _q(Job, "_job_running")
    count, last, anchor = _q(Job, "_run_count"), _q(Job, "_last_run"), _q(Job, "_last_interval")
    jid = _q(Job, "id")
    guard = f"WHERE {jid} = %s AND {nxt} = %s AND {running} = %s"
    return {
        "claim": (
            f"UPDATE {job} SET {nxt} = %s, {running} = %s, {count} = {count} + 1, {last} = %s, "
            f"{anchor} = COALESCE(%s, {anchor}) {guard}"
        ),
        "advance": f"UPDATE {job} SET {nxt} = %s, {anchor} = COALESCE(%s, {anchor}) {guard}",
        "finish": (
            f"UPDATE {run} SET {_q(JobRun, 'status')} = %s, {_q(JobRun, 'error')} = %s, "
            f"{_q(JobRun, 'finished')} = %s, {_q(JobRun, 'lease_until')} = NULL "
            f"WHERE {_q(JobRun, 'id')} = %s AND {_q(JobRun, 'daemon')} = %s "
            f"AND {_q(JobRun, 'status')} = %s"
        ),
    }


def _execute(name: str, params: list[object]) -> int:
    with connection.cursor() as cursor:
        cursor.execute(_statements(connection.vendor)[name], params)
        return cursor.rowcount


def cas_job(
    job: Job,
    *,
    next_run: datetime | None,
    anchor: datetime | None,
    claim_at: datetime | None = None,
) -> bool:
    """Move the job from the occurrence it was loaded with to ``next_run``; with ``claim_at``,
    also mark it running and count the run. True if this call won the row."""
    guard = [job.pk, _dt(Job, "_next_run", job._next_run), bool(job._job_running)]
    values = [_dt(Job, "_next_run", next_run)]
    if claim_at is not None:
        values += [True, _dt(Job, "_last_run", claim_at)]
    values.append(_dt(Job, "_last_interval", anchor))
    return _execute("claim" if claim_at is not None else "advance", values + guard) == 1


def finish_run(run_id: int, daemon_id: int, *, status: str, error: str, now: datetime) -> bool:
    """Record a run's outcome if ``daemon_id`` still owns it and it is still running."""
    params = [status, error, _dt(JobRun, "finished", now), run_id, daemon_id]
    return _execute("finish", [*params, JobRun.Status.RUNNING]) == 1
