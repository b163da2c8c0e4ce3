"""The store: every statement akjobd sends to the database, and nothing else.

The other parts of the daemon decide (dispatcher), run processes (supervisor) and keep track of
other daemons (membership); what they read and write goes through here.

Claiming and finishing runs happens hundreds of times a second at peak, and every wake-up asks
for the earliest next run; building those statements through the ORM costs more than executing
them (measured in docs/benchmarks.md), so the compare-and-set UPDATEs, the earliest-next-run
query and the claim's batched statements (:mod:`akjob.daemon.claimsql`: the compare-and-set and
the run records of many jobs at once) are written once as SQL, on every supported database.
Values go to the driver as the ORM would send them (datetimes through the backend's adapter)
and come back as the ORM would return them. The rest uses the ORM.

"Running" is a run record: a run in progress has ``running_for`` set to its job's id, unique in
the database, so a job has at most one run in progress whatever happens to a daemon (a job whose
overlap policy lets runs overlap, ``allow`` or ``replace``, leaves it empty: see
:mod:`akjob.daemon.dispatcher`).
"""

from __future__ import annotations

import os
import socket
from datetime import datetime, timedelta
from functools import cache, partial
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, IntegrityError, connection, connections, models, transaction
from django.db.models.sql.constants import MULTI
from django.utils import timezone as dj_timezone

from akjob.conf import akjob_settings
from akjob.daysets import from_db
from akjob.models import DaemonRecord, Job, JobRun
from akjob.timeutil import to_aware, to_db

Status = JobRun.Status
HOST = socket.gethostname()
CHUNK = 500  # job ids per statement when many are at hand (SQLite limits a statement's parameters)


def column(model: type, name: str) -> str:
    """The quoted column of a model's field."""
    return connection.ops.quote_name(model._meta.get_field(name).column)


def db_datetime(value: datetime | None, adapted: Adapted | None = None) -> object:
    """A datetime as the database driver takes it for a DateTimeField. ``adapted``: the values
    adapted so far by a batch of statements, which shares a few distinct times: each is adapted
    once."""
    if value is None:
        return None
    if adapted is not None:
        return adapted[value]
    return _adapter()(value)


class Adapted(dict):
    """The datetimes a batch of statements sends, adapted for the database once each, by the
    ways of the connection looked up once for the batch (a due wake-up sends thousands)."""

    def __init__(self) -> None:
        super().__init__()
        self.adapt = _adapter()

    def __missing__(self, value: datetime) -> object:
        result = self[value] = self.adapt(value)
        return result


def _adapter() -> Any:
    """How the current connection takes a datetime for a DateTimeField, as the ORM sends it."""
    conn = connections[DEFAULT_DB_ALIAS]
    adapt = conn.ops.adapt_datetimefield_value
    if not settings.USE_TZ:
        return lambda value: adapt(to_db(value) if dj_timezone.is_aware(value) else value)
    if conn.vendor != "sqlite":
        return adapt
    zone = conn.timezone

    def wall_clock(value: datetime) -> object:
        # SQLite's adapter for an aware datetime, without its checks: the text of its wall
        # clock in the connection's zone.
        if value.tzinfo is None:
            return adapt(value)
        return str(value.astimezone(zone).replace(tzinfo=None))

    return wall_clock


@cache
def _statements(vendor: str) -> dict[str, str]:
    _q = column
    job = connection.ops.quote_name(Job._meta.db_table)
    run = connection.ops.quote_name(JobRun._meta.db_table)
    nxt, started = _q(Job, "_next_run"), _q(JobRun, "started")
    count, last, anchor = _q(Job, "_run_count"), _q(Job, "_last_run"), _q(Job, "_last_interval")
    jid = _q(Job, "id")
    # NULL-safe: a job with no next run (a one-off job after its run) is moved from NULL too.
    same = {"postgresql": "IS NOT DISTINCT FROM", "mysql": "<=>", "sqlite": "IS"}.get(vendor, "=")
    guard = f"WHERE {jid} = %s AND {nxt} {same} %s"
    in_progress = f"SELECT 1 FROM {run} WHERE {_q(JobRun, 'running_for')} = {job}.{jid}"
    return {
        "claim": (
            f"UPDATE {job} SET {nxt} = %s, {count} = {count} + 1, {last} = %s, "
            f"{anchor} = COALESCE(%s, {anchor}) {guard}"
        ),
        "advance": f"UPDATE {job} SET {nxt} = %s, {anchor} = COALESCE(%s, {anchor}) {guard}",
        "earliest": (
            f"SELECT {nxt} FROM {job} WHERE {_q(Job, 'job_enabled')} = %s AND {nxt} IS NOT NULL "
            f"AND NOT EXISTS ({in_progress}) ORDER BY {nxt} LIMIT 1"
        ),
        "finish": (
            f"UPDATE {run} SET {_q(JobRun, 'status')} = %s, {_q(JobRun, 'error')} = %s, "
            f"{_q(JobRun, 'finished')} = CASE WHEN {started} > %s THEN {started} ELSE %s END, "
            f"{_q(JobRun, 'lease_until')} = NULL, "
            f"{_q(JobRun, 'running_for')} = NULL "
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
    also count the run. True if this call won the row."""
    return cas_move((job.pk, job._next_run, next_run, claim_at, anchor))


def cas_move(
    move: tuple[int, datetime | None, datetime | None, datetime | None, datetime | None],
    adapted: Adapted | None = None,
) -> bool:
    """:func:`cas_job` for one move of :func:`akjob.daemon.claimsql.cas_jobs`: (job id, the
    occurrence it was loaded at, its next run, the run's start or None, the anchor or None).
    The occurrence may be None: the row must then have no next run (compared NULL-safe)."""
    job_id, occurrence, next_run, started, anchor = move
    values = [db_datetime(next_run, adapted)]
    if started is not None:
        values.append(db_datetime(started, adapted))
    values += [db_datetime(anchor, adapted), job_id, db_datetime(occurrence, adapted)]
    return _execute("claim" if started is not None else "advance", values) == 1


def finish_run(run_id: int, daemon_id: int, *, status: str, error: str, now: datetime) -> bool:
    """Record a run's outcome if ``daemon_id`` still owns it and it is still running; the job
    is then free for its next run. Its end is ``now``, or its start if that is later (a run
    refused before the time it was claimed for), so a record's times are always in order."""
    params = [status, error, db_datetime(now), db_datetime(now), run_id, daemon_id]
    return _execute("finish", [*params, JobRun.Status.RUNNING]) == 1


def earliest_next_run() -> datetime | None:
    """The earliest next run time of the enabled jobs with no run in progress (aware, UTC), or
    None: what the daemon asks at every wake-up, served by the index on the next run time."""
    with connection.cursor() as cursor:
        cursor.execute(_statements(connection.vendor)["earliest"], [True])
        row = cursor.fetchone()
    return None if row is None else to_aware(from_db(row[0]))


def read_jobs(queryset: models.QuerySet[Job]) -> list[Job]:
    """The jobs ``queryset`` selects, as iterating it would give them, read with less work per
    row: a due wake-up reads a thousand (see "Due wake-up" in docs/benchmarks.md). The
    database's own converters are called for values that are not NULL only (they all map NULL
    to None), SQLite's and MySQL's datetimes are made aware in one step (see :func:`_faster`),
    and the jobs are built by :meth:`Job.from_rows`. A query with more in its rows than the
    job's columns is iterated as usual."""
    compiler = queryset.query.get_compiler(using=queryset.db)
    compiler.setup_query()
    names = [
        getattr(getattr(column, "target", None), "attname", "") for column, _, _ in compiler.select
    ]
    if compiler.annotation_col_map or names != [f.attname for f in Job._meta.concrete_fields]:
        return list(queryset)
    conn = compiler.connection
    on_values, on_all = [], []  # (column, converter of one value)
    for index, (converters, expression) in compiler.get_converters(
        [column for column, _, _ in compiler.select]
    ).items():
        for convert in converters:
            one = _faster(convert, conn) or partial(_call, convert, expression, conn)
            own = getattr(convert, "__self__", None) is conn.ops  # a database's: NULL stays None
            (on_values if own and len(converters) == 1 else on_all).append((index, one))
    rows = []
    for chunk in compiler.execute_sql(MULTI):
        for values in chunk:
            row = list(values)
            for index, one in on_values:
                if (value := row[index]) is not None:
                    row[index] = one(value)
            for index, one in on_all:
                row[index] = one(row[index])
            rows.append(row)
    return Job.from_rows(queryset.db, rows)


def _call(convert: Any, expression: Any, conn: Any, value: Any) -> Any:
    return convert(value, expression, conn)


def _faster(convert: Any, conn: Any) -> Any:
    """A faster equal of ``convert`` for one value, or None. The drivers of SQLite and MySQL
    hand datetimes over parsed, naive, in the connection's zone, and Django's converter makes
    them aware: done here in one step, without its checks of the settings at every value."""
    datetimes = getattr(conn.ops, "convert_datetimefield_value", None)
    if conn.vendor not in ("sqlite", "mysql") or convert != datetimes or not settings.USE_TZ:
        return None
    zone = conn.timezone

    def aware(value: Any) -> Any:
        if type(value) is datetime and value.tzinfo is None:
            return value.replace(tzinfo=zone)
        return convert(value, None, conn)

    return aware


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


# -- claiming and recording ------------------------------------------------------------------


def in_savepoint(write: Any) -> bool:
    """Run ``write()`` in a savepoint; False (and nothing written) if it broke a constraint."""
    try:
        with transaction.atomic():
            write()
    except IntegrityError:
        return False
    return True


def jobs_overdue_at(ends: dict[int, datetime]) -> list[Job]:
    """Of these jobs, those whose next run time came before the given end of their run: the
    occurrences that run overlapped."""
    latest = max(ends.values())
    jobs = Job.objects.filter(pk__in=list(ends), _next_run__lt=to_db(latest))
    return [job for job in jobs if to_aware(job._next_run) < ends[job.pk]]


def mark_interrupted(run_ids: list[int], *, reason: str, now: datetime) -> dict[int, datetime]:
    """Mark still-running runs interrupted, one statement each (a peer stopped in the middle of
    a transaction must not hold this up); their jobs are free at once. Returns the jobs whose
    run this call ended, with the time recorded as its end."""
    ended = {}
    for run_id in run_ids:
        row = JobRun.objects.filter(pk=run_id, status=Status.RUNNING)
        job_id = row.values_list("job_id", flat=True).first()
        end = models.Case(
            models.When(started__gt=to_db(now), then=models.F("started")),
            default=models.Value(to_db(now)),
        )
        changes = {"status": Status.INTERRUPTED, "error": reason, "finished": end}
        if row.update(**changes, running_for=None) and job_id is not None:
            ended[job_id] = now
    return ended


def prune_jobs(job_ids: set[int], keep: int) -> int:
    """Delete the oldest run records of these jobs beyond ``keep`` each (one counting query per
    CHUNK jobs, when none has too many)."""
    ids, over = sorted(job_ids), []
    for start in range(0, len(ids), CHUNK):
        over += (
            JobRun.objects.filter(job_id__in=ids[start : start + CHUNK])
            .values("job_id")
            .annotate(n=models.Count("id"))
            .filter(n__gt=keep)
            .values_list("job_id", flat=True)
        )
    return sum(prune(job_id, keep) for job_id in over)


def prune(job_id: int, keep: int) -> int:
    """Delete the job's oldest finished run records beyond ``keep`` (a run in progress, and a
    failed one whose retry is waiting, stay)."""
    old = list(
        JobRun.objects.filter(job_id=job_id, retry_at__isnull=True)
        .exclude(status=Status.RUNNING)
        .order_by("-scheduled", "-id")
        .values_list("pk", flat=True)[keep:]
    )
    if not old:
        return 0
    return JobRun.objects.filter(pk__in=old).delete()[0]


# -- the database itself ----------------------------------------------------------------------


def database_identity() -> tuple[int, int] | None:
    """The SQLite file akjob's tables are in, as (device, inode), or None for another database
    (or SQLite in memory). Raises DatabaseGone if the file is not there."""
    from akjob.daemon.dblock import database_file
    from akjob.exceptions import DatabaseGone

    path = database_file()
    if path is None:
        return None
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        raise DatabaseGone(f"the SQLite database {path} is gone") from None
    return stat.st_dev, stat.st_ino


MISSING_TABLE = ("no such table", "does not exist", "doesn't exist")


def missing_table(exc: BaseException) -> bool:
    """Whether a database error says that one of akjob's tables is not there."""
    text = str(exc).lower()
    return any(words in text for words in MISSING_TABLE) and "akjob_" in text


# -- daemons ---------------------------------------------------------------------------------


def register(now: datetime) -> DaemonRecord:
    """This daemon's record, with its first heartbeat."""
    return DaemonRecord.objects.create(
        host=HOST, pid=os.getpid(), started=to_db(now), heartbeat=to_db(now)
    )


def beat(daemon: DaemonRecord, now: datetime) -> None:
    DaemonRecord.objects.filter(pk=daemon.pk).update(heartbeat=to_db(now))


def stopped(daemon: DaemonRecord, now: datetime) -> None:
    DaemonRecord.objects.filter(pk=daemon.pk).update(stopped=to_db(now))


def renew_leases(daemon: DaemonRecord, run_ids: list[int], until: datetime) -> int:
    """Extend the leases of these runs that ``daemon`` still owns; return how many it does."""
    runs = JobRun.objects.filter(pk__in=run_ids, daemon=daemon, status=Status.RUNNING)
    return runs.update(lease_until=to_db(until))


def take_over(run_id: int, daemon: DaemonRecord, stale_before: datetime | None) -> bool:
    """Make ``daemon`` the owner of a run still in progress (and, with ``stale_before``, whose
    lease ran out before then), so that its former owner's writes about it match no row. True
    if it did."""
    runs = JobRun.objects.filter(pk=run_id, status=Status.RUNNING)
    if stale_before is not None:
        runs = runs.filter(lease_until__lt=to_db(stale_before))
    return runs.update(daemon=daemon) == 1


def still_ours(daemon: DaemonRecord, run_ids: list[int]) -> set[int]:
    """The runs among ``run_ids`` that ``daemon`` still owns and that are still running."""
    runs = JobRun.objects.filter(pk__in=run_ids, daemon=daemon, status=Status.RUNNING)
    return set(runs.values_list("pk", flat=True))


RunRef = tuple[int, str, int | None, datetime | None]  # id, host, pid of its process, start


def stale_runs(cutoff: datetime, *, exclude: list[int]) -> list[RunRef]:
    """Running runs whose lease ran out before ``cutoff``, other than ``exclude``."""
    runs = JobRun.objects.filter(status=Status.RUNNING, lease_until__lt=to_db(cutoff))
    return list(runs.exclude(pk__in=exclude).values_list("pk", "host", "pid", "started"))


def earlier_local_daemons(daemon: DaemonRecord) -> list[DaemonRecord]:
    """The other daemons on this host not recorded as stopped."""
    return list(DaemonRecord.objects.filter(host=HOST, stopped__isnull=True).exclude(pk=daemon.pk))


def runs_of(daemon_ids: list[int]) -> list[RunRef]:
    """The runs in progress of these daemons."""
    runs = JobRun.objects.filter(daemon_id__in=daemon_ids, status=Status.RUNNING)
    return list(runs.values_list("pk", "host", "pid", "started"))


def mark_stopped(daemon_ids: list[int], now: datetime) -> None:
    DaemonRecord.objects.filter(pk__in=daemon_ids).update(stopped=to_db(now))


def live_daemons(now: datetime) -> list[DaemonRecord]:
    """Daemons (on any host) whose heartbeat is recent."""
    fresh = now - timedelta(seconds=2 * akjob_settings.heartbeat + akjob_settings.poll)
    return list(DaemonRecord.objects.filter(stopped__isnull=True, heartbeat__gte=to_db(fresh)))
