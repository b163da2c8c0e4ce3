"""The daemon's hot-path statements, written once as SQL.

Claiming and finishing runs happens hundreds of times a second at peak, and every wake-up asks
for the earliest next run; building each statement through the ORM costs more than executing it.
Here are the compare-and-set UPDATEs the ORM would write, the earliest-next-run query, the reads
of the due jobs' day sets and the multi-row INSERT of run records, on every supported database.
Values go to the driver as the ORM would send them (datetimes through the backend's adapter) and
come back as the ORM would return them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from typing import Any

from django.conf import settings
from django.db import connection
from django.utils import timezone as dj_timezone
from django.utils.dateparse import parse_datetime

from akjob.models import Job, JobDates, JobRun
from akjob.timeutil import to_aware, to_db


def _q(model: type, name: str) -> str:
    return connection.ops.quote_name(model._meta.get_field(name).column)


def _dt(value: datetime | None) -> object:
    """A datetime as the database driver takes it for a DateTimeField."""
    if value is not None and not settings.USE_TZ and dj_timezone.is_aware(value):
        value = to_db(value)
    return connection.ops.adapt_datetimefield_value(value)


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
        "earliest": (
            f"SELECT {nxt} FROM {job} WHERE {_q(Job, 'job_enabled')} = %s AND {nxt} IS NOT NULL "
            f"ORDER BY {nxt} LIMIT 1"
        ),
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
    guard = [job.pk, _dt(job._next_run), bool(job._job_running)]
    values = [_dt(next_run)]
    if claim_at is not None:
        values += [True, _dt(claim_at)]
    values.append(_dt(anchor))
    return _execute("claim" if claim_at is not None else "advance", values + guard) == 1


def finish_run(run_id: int, daemon_id: int, *, status: str, error: str, now: datetime) -> bool:
    """Record a run's outcome if ``daemon_id`` still owns it and it is still running."""
    params = [status, error, _dt(now), run_id, daemon_id]
    return _execute("finish", [*params, JobRun.Status.RUNNING]) == 1


def _chunks(items: list[Any], *, per_item: int) -> list[list[Any]]:
    """``items`` in pieces that fit one statement, each item taking ``per_item`` parameters (one
    piece where the database sets no limit)."""
    limit = connection.features.max_query_params
    step = max(limit // per_item, 1) if limit else max(len(items), 1)
    return [items[start : start + step] for start in range(0, len(items), step)]


def saved_sets(ids: list[int], props: tuple[str, ...]) -> dict[str, dict[int, list[Any]]]:
    """The saved values of the jobs' ``*_list`` properties (``props``), by property and job: two
    statements for any number of jobs (the day sets together, then the dates), more only where
    the database takes few parameters per statement."""
    found: dict[str, dict[int, list[Any]]] = {prop: {} for prop in props}
    for chunk in _chunks(ids, per_item=len(props)):
        _saved_sets(chunk, props, found)
    return found


def _saved_sets(ids: list[int], props: tuple[str, ...], found: dict[str, Any]) -> None:
    quote = connection.ops.quote_name
    marks = ", ".join(["%s"] * len(ids))
    selects, params = [], []
    for i, prop in enumerate(props):
        if prop == "dates_list":
            continue
        field = Job._meta.get_field(getattr(Job, prop).field)
        through = field.remote_field.through._meta
        src = quote(through.get_field(field.m2m_field_name()).column)
        tgt = quote(through.get_field(field.m2m_reverse_field_name()).column)
        selects.append(
            f"SELECT {i}, {src}, {tgt} FROM {quote(through.db_table)} WHERE {src} IN ({marks})"
        )
        params += ids
    with connection.cursor() as cursor:
        if selects:
            cursor.execute(" UNION ALL ".join(selects), params)
            for i, job_id, value in cursor.fetchall():
                found[props[i]].setdefault(job_id, []).append(value)
        if "dates_list" in props:
            job_col = quote(JobDates._meta.get_field("job").column)
            when = quote(JobDates._meta.get_field("job_datetime").column)
            table = quote(JobDates._meta.db_table)
            cursor.execute(
                f"SELECT {job_col}, {when} FROM {table} WHERE {job_col} IN ({marks})", ids
            )
            for job_id, value in cursor.fetchall():
                found["dates_list"].setdefault(job_id, []).append(_from_db(value))


def _from_db(value: Any) -> datetime | None:
    """A datetime read with a raw cursor, as the ORM would give it."""
    if value is None:
        return None
    if isinstance(value, str):  # a database without a datetime type hands back text
        value = parse_datetime(value)
    if settings.USE_TZ and dj_timezone.is_naive(value):
        value = value.replace(tzinfo=UTC)  # stored in UTC (SQLite, MySQL)
    elif not settings.USE_TZ and dj_timezone.is_aware(value):
        value = dj_timezone.make_naive(value, dj_timezone.get_default_timezone())
    return value


def earliest_next_run() -> datetime | None:
    """The earliest next run time of the enabled jobs (aware, UTC), or None: what the daemon
    asks at every wake-up, served by the index on the next run time."""
    with connection.cursor() as cursor:
        cursor.execute(_statements(connection.vendor)["earliest"], [True])
        row = cursor.fetchone()
    return None if row is None else to_aware(_from_db(row[0]))


def insert_runs(runs: list[JobRun]) -> None:
    """Insert run records, a few hundred rows per statement, and set their ids where the database
    returns them (PostgreSQL, SQLite, MariaDB; elsewhere they stay None for the caller to look
    up). A duplicate occurrence raises IntegrityError, as ``bulk_create`` would."""
    fields = [f for f in JobRun._meta.concrete_fields if not f.primary_key]
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    returning = connection.features.can_return_rows_from_bulk_insert
    table = connection.ops.quote_name(JobRun._meta.db_table)
    pk = connection.ops.quote_name(JobRun._meta.pk.column)
    with connection.cursor() as cursor:
        for chunk in _chunks(runs, per_item=len(fields)):
            params = [_column_value(f, run) for run in chunk for f in fields]
            statement = f"INSERT INTO {table} ({columns}) VALUES {', '.join([row] * len(chunk))}"
            if returning:
                statement += f" RETURNING {pk}"
            cursor.execute(statement, params)
            if returning:
                for run, (pk_value,) in zip(chunk, cursor.fetchall(), strict=True):
                    run.pk = pk_value
                    run._state.adding = False


def _column_value(field: Any, run: JobRun) -> object:
    value = getattr(run, field.attname)
    if value is None:
        return None
    if field.get_internal_type() == "DateTimeField":
        return _dt(value)
    return str(value) if isinstance(value, str) else value  # a TextChoices member as text


def can_skip_locked() -> bool:
    """Whether the database can skip rows locked by others (PostgreSQL, MySQL 8, MariaDB 10.6+)."""
    return bool(connection.features.has_select_for_update_skip_locked)


def lock_jobs(ids: list[int]) -> set[int]:
    """Lock, for the current transaction, the job rows no one else holds, and return their ids.

    Rows another daemon is claiming or finishing at this moment are skipped, not waited for
    (``SKIP LOCKED``): daemons claiming the same due jobs take different ones instead of queueing
    behind each other, and one stopped in the middle of a transaction (SIGSTOP) holds up no one.
    Where the database cannot skip locked rows (SQLite, MariaDB before 10.6) every id is returned
    and the compare-and-set that follows waits its turn.
    """
    if not ids or not can_skip_locked():
        return set(ids)
    rows = Job.objects.filter(pk__in=ids).order_by("pk").select_for_update(skip_locked=True)
    return set(rows.values_list("pk", flat=True))


def limit_lock_waits(conn: Any, seconds: float, *, idle: float | None = None) -> None:
    """Make a statement on ``conn`` give up (with a database error) after waiting ``seconds`` for
    a row lock, instead of the server's default (PostgreSQL: forever; InnoDB: 50 s).

    With ``idle``, also have the server end the session when it sits inside an open transaction
    for that long (PostgreSQL, MariaDB): a daemon paused mid-transaction (SIGSTOP, a frozen
    virtual machine) then loses its transaction, and the rows it had locked are free again, once
    its lease is over instead of whenever it resumes. MySQL has no such setting."""
    statements = []
    if conn.vendor == "postgresql":
        statements.append(f"SET lock_timeout = {max(int(seconds * 1000), 1)}")
        if idle is not None:
            statements.append(f"SET idle_in_transaction_session_timeout = {int(idle * 1000)}")
    elif conn.vendor == "mysql":
        statements.append(f"SET SESSION innodb_lock_wait_timeout = {max(round(seconds), 1)}")
        if idle is not None and conn.mysql_is_mariadb:
            statements.append(f"SET SESSION idle_transaction_timeout = {max(round(idle), 1)}")
    with conn.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)
