"""The store's statements for claiming many due jobs at once: the compare-and-set of their rows
and the insert of their run records, a few statements for a whole wake-up.

A wake-up that finds a thousand jobs due used to send a compare-and-set UPDATE per job; here the
jobs of a chunk are moved by one statement that still moves only the rows whose ``_next_run`` is
the occurrence this daemon loaded, and tells which rows those were (see "Due wake-up" in
docs/benchmarks.md for what it saves):

- PostgreSQL: ``WITH claim (...) AS (VALUES ...) UPDATE ... FROM claim WHERE id = claim.job
  AND _next_run = claim.occurrence RETURNING id``, one round trip per chunk. A value every job
  of the chunk shares (jobs due together share their occurrence, start and often their next
  run) is sent once, not once per job; the run records' INSERT does the same;
- MySQL and MariaDB, which cannot return rows from an UPDATE: the rows still at their occurrence
  are locked first (``SELECT ... FOR UPDATE``, inside the claim's transaction), then moved by one
  UPDATE. Locked, they cannot change in between, so the rows locked are the rows moved;
- SQLite: the compare-and-set of :func:`store.cas_job`, prepared once and run for every job
  (``executemany``), which SQLite runs faster than one UPDATE ... FROM of them all (that one
  first copies the rows it joins). The rows it moved add up to the jobs (the usual case: one
  daemon per SQLite file), or the batch is undone and each job tried alone.

Values go to the driver as the ORM would send them (:func:`store.db_datetime`); a batch shares a
few distinct times, each adapted once.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import cache, lru_cache
from typing import Any

from django.db import connection, transaction

from akjob.daemon import store
from akjob.daysets import chunks
from akjob.models import Job, JobRun

#: One job's compare-and-set: its id, the occurrence it was loaded at (its ``_next_run`` as
#: read), its next run after the claim, the start of the run claimed (None: no run is counted,
#: the occurrence is recorded missed or failed) and its new interval anchor (None: unchanged).
Move = tuple[int, datetime, datetime | None, datetime | None, datetime | None]
#: A run record to insert: column values by field attribute name (``job_id``, ``status``, …).
#: A field left out takes its default; :func:`insert_runs` sets ``id``.
Record = dict[str, Any]

RETURNING, LOCKING, EXECUTEMANY = "returning", "locking", "executemany"
# Jobs per UPDATE on MySQL/MariaDB: their UPDATE picks each row's values with CASE, searched
# row by row, so the work grows with the square of the chunk.
LOCKING_CHUNK = 100


def strategy() -> str:
    """How this database moves a batch of jobs (see the module's docstring)."""
    if connection.vendor == "postgresql":
        return RETURNING
    if connection.vendor == "mysql":
        return LOCKING
    return EXECUTEMANY


def cas_jobs(moves: list[Move], *, how: str | None = None) -> set[int]:
    """Move each job from the occurrence it was loaded at to its next run, counting a run where
    one started, if its row still holds that occurrence; return the ids of the rows moved. The
    others changed behind the caller's back (another daemon claimed them, or an edit). Call it
    inside a transaction: the run records are inserted in the same one. ``how``: a strategy
    other than this database's own (the tests try each where it works)."""
    if not moves:
        return set()
    adapted = store.Adapted()
    how = how or strategy()
    with connection.cursor() as cursor:
        if how == EXECUTEMANY:
            return _move_many(cursor, moves, adapted)
        won: set[int] = set()
        if how == RETURNING:
            for chunk in chunks(moves, per_item=6):
                rows = [_claim_row(move, adapted) for move in chunk]
                shared = _shared(rows, key=0)
                params = [row[i] for row in rows for i in range(6) if not shared[i]]
                params += [rows[0][i] for i in (2, 5, 3, 4, 1) if shared[i]]  # the SQL's order
                cursor.execute(_returning_sql(connection.vendor, len(rows), shared), params)
                won.update(row[0] for row in cursor.fetchall())
            return won
        for start in range(0, len(moves), LOCKING_CHUNK):
            won |= _lock_and_move(cursor, moves[start : start + LOCKING_CHUNK], adapted)
        return won


class _NotEveryRow(Exception):
    """Fewer rows moved than asked: which ones is not known, so the batch is undone."""


def _move_many(cursor: Any, moves: list[Move], adapted: store.Adapted) -> set[int]:
    """One guarded UPDATE per job, prepared once and sent as one batch (``executemany``). Each
    moves at most its own row, so when the rows moved add up to the jobs, every job was moved;
    otherwise the batch is undone (a savepoint) and each job is tried alone."""
    params = []
    for move in moves:
        job_id, occurrence, next_run, started, anchor, runs = _claim_row(move, adapted)
        params.append((next_run, runs, started, anchor, job_id, occurrence))
    try:
        with transaction.atomic():
            cursor.executemany(_many_sql(connection.vendor), params)
            if cursor.rowcount != len(moves):
                raise _NotEveryRow
    except _NotEveryRow:
        return {move[0] for move in moves if store.cas_move(move, adapted)}
    return {move[0] for move in moves}


@cache
def _many_sql(vendor: str) -> str:
    job, jid, nxt, count, last, anchor = _columns()
    return (
        f"UPDATE {job} SET {nxt} = %s, {count} = {count} + %s, {last} = COALESCE(%s, {last}), "
        f"{anchor} = COALESCE(%s, {anchor}) WHERE {jid} = %s AND {nxt} = %s"
    )


def _claim_row(move: Move, adapted: store.Adapted) -> tuple[object, ...]:
    job_id, occurrence, next_run, started, anchor = move
    dt = store.db_datetime
    runs = 0 if started is None else 1
    return (
        job_id,
        dt(occurrence, adapted),
        dt(next_run, adapted),
        dt(started, adapted),
        dt(anchor, adapted),
        runs,
    )


def _columns() -> tuple[str, str, str, str, str, str]:
    """The job table and the columns a claim touches, quoted."""
    column = store.column
    table = connection.ops.quote_name(Job._meta.db_table)
    names = ("id", "_next_run", "_run_count", "_last_run", "_last_interval")
    return (table, *(column(Job, name) for name in names))  # type: ignore[return-value]


def _cast() -> Callable[[str], str]:
    """How a value of the VALUES list is made a datetime: PostgreSQL types a column that only
    holds NULLs as text, so it is cast; SQLite and MySQL take the value as it is."""
    if connection.vendor != "postgresql":
        return lambda value: value
    db_type = Job._meta.get_field("_next_run").db_type(connection)
    return lambda value: f"CAST({value} AS {db_type})"


def _shared(rows: list[tuple[object, ...]], *, key: int) -> tuple[bool, ...]:
    """For each column, whether every row holds the same value, of the same type (the ``key``
    column never does): such a value is sent once, not once per row. Jobs due together often
    share their occurrence, start, lease and next run, and PostgreSQL's driver spends more on
    each value it sends than the server spends on the row."""
    first = rows[0]
    return tuple(
        i != key and all(row[i] == first[i] and type(row[i]) is type(first[i]) for row in rows)
        for i in range(len(first))
    )


CLAIM_COLUMNS = ("job", "occurrence", "next_run", "started", "anchor", "runs")


@lru_cache(maxsize=64)
def _returning_sql(vendor: str, rows: int, shared: tuple[bool, ...]) -> str:
    job, jid, nxt, count, last, anchor = _columns()
    cast = _cast()
    varying = [name for name, once in zip(CLAIM_COLUMNS, shared, strict=True) if not once]
    values = ", ".join(["(" + ", ".join(["%s"] * len(varying)) + ")"] * rows)

    def value(index: int) -> str:
        return "%s" if shared[index] else f"claim.{CLAIM_COLUMNS[index]}"

    return (
        f"WITH claim ({', '.join(varying)}) AS (VALUES {values}) "
        f"UPDATE {job} SET {nxt} = {cast(value(2))}, {count} = {count} + {value(5)}, "
        f"{last} = COALESCE({cast(value(3))}, {last}), "
        f"{anchor} = COALESCE({cast(value(4))}, {anchor}) "
        f"FROM claim WHERE {job}.{jid} = claim.job AND {job}.{nxt} = {cast(value(1))} "
        f"RETURNING {job}.{jid}"
    )


def _lock_and_move(cursor: Any, chunk: list[Move], adapted: store.Adapted) -> set[int]:
    """Lock the rows of ``chunk`` still at their occurrence, then move those (MySQL, MariaDB),
    in one transaction (a savepoint of the caller's): the locks hold until the move."""
    with transaction.atomic():
        return _locked_move(cursor, chunk, adapted)


def _locked_move(cursor: Any, chunk: list[Move], adapted: store.Adapted) -> set[int]:
    job, jid, nxt, count, last, anchor = _columns()
    guard = " OR ".join([f"({jid} = %s AND {nxt} = %s)"] * len(chunk))
    params = [v for move in chunk for v in (move[0], store.db_datetime(move[1], adapted))]
    cursor.execute(f"SELECT {jid} FROM {job} WHERE {guard} FOR UPDATE", params)
    locked = {row[0] for row in cursor.fetchall()}
    mine = [move for move in chunk if move[0] in locked]
    if not mine:
        return locked
    rows = [_claim_row(move, adapted) for move in mine]  # id, occurrence, next, start, anchor, runs
    params = []
    for index in (2, 5, 3, 4):  # the SET's order: next run, the run counted, its start, anchor
        for row in rows:
            params += [row[0], row[index]]
    params += [row[0] for row in rows]
    cursor.execute(_locking_sql(len(mine)), params)
    return locked


@lru_cache(maxsize=16)
def _locking_sql(rows: int) -> str:
    job, jid, nxt, count, last, anchor = _columns()
    case = f"CASE {jid} " + " ".join(["WHEN %s THEN %s"] * rows) + " END"
    marks = ", ".join(["%s"] * rows)
    return (
        f"UPDATE {job} SET {nxt} = {case}, {count} = {count} + {case}, "
        f"{last} = COALESCE({case}, {last}), {anchor} = COALESCE({case}, {anchor}) "
        f"WHERE {jid} IN ({marks})"
    )


# -- run records -----------------------------------------------------------------------------


@cache
def _run_columns() -> tuple[dict[str, Any], tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """The columns of a run record but its id: their defaults by attribute name, the names in
    the table's order, and those of the datetimes and the texts among them."""
    fields = [f for f in JobRun._meta.concrete_fields if not f.primary_key]
    defaults = {f.attname: f.get_default() for f in fields}
    datetimes = tuple(f.attname for f in fields if f.get_internal_type() == "DateTimeField")
    texts = tuple(f.attname for f in fields if f.get_internal_type() in ("CharField", "TextField"))
    return defaults, tuple(defaults), datetimes, texts


@cache
def _durations() -> tuple[Any, ...]:
    """The duration fields of a run record (sent as the field prepares them: some databases
    store a number of microseconds)."""
    return tuple(
        f for f in JobRun._meta.concrete_fields if f.get_internal_type() == "DurationField"
    )


@lru_cache(maxsize=16)
def _insert_sql(vendor: str, rows: int) -> str:
    fields = [f for f in JobRun._meta.concrete_fields if not f.primary_key]
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    table = connection.ops.quote_name(JobRun._meta.db_table)
    statement = f"INSERT INTO {table} ({columns}) VALUES {', '.join([row] * rows)}"
    if connection.features.can_return_rows_from_bulk_insert:
        statement += f" RETURNING {connection.ops.quote_name(JobRun._meta.pk.column)}"
    return statement


def insert_runs(records: list[Record]) -> None:
    """Insert run records, a few hundred rows per statement, and set their ``id`` where the
    database returns it (PostgreSQL, SQLite, MariaDB; elsewhere it stays None for the caller to
    look up). A duplicate occurrence raises IntegrityError, as ``bulk_create`` would."""
    defaults, names, datetimes, texts = _run_columns()
    returning = connection.features.can_return_rows_from_bulk_insert
    adapted = store.Adapted()
    with connection.cursor() as cursor:
        for chunk in chunks(records, per_item=len(names)):
            rows = []
            for record in chunk:
                row = defaults | record
                for name in datetimes:
                    if row[name] is not None:
                        row[name] = store.db_datetime(row[name], adapted)
                for name in texts:
                    if type(row[name]) is not str and row[name] is not None:
                        row[name] = str(row[name])  # a TextChoices member as plain text
                for duration in _durations():
                    if row[duration.attname] is not None:
                        value = duration.get_db_prep_value(row[duration.attname], connection)
                        row[duration.attname] = value
                rows.append(tuple(row[name] for name in names))
            jobs = {record["job_id"] for record in chunk}
            if connection.vendor == "postgresql" and len(jobs) == len(chunk) > 1:
                _insert_shared(cursor, chunk, rows)
                continue
            cursor.execute(_insert_sql(connection.vendor, len(chunk)), [v for r in rows for v in r])
            if returning:
                for record, (pk_value,) in zip(chunk, cursor.fetchall(), strict=True):
                    record["id"] = pk_value


def _insert_shared(cursor: Any, chunk: list[Record], rows: list[tuple[object, ...]]) -> None:
    """PostgreSQL: insert the rows of ``chunk`` sending the values they all share once (see
    :func:`_shared`); each record gets its id by its job's, distinct in the chunk."""
    shared = _shared(rows, key=_run_columns()[1].index("job_id"))
    params = [rows[0][i] for i, once in enumerate(shared) if once]
    params += [row[i] for row in rows for i, once in enumerate(shared) if not once]
    cursor.execute(_insert_shared_sql(len(rows), shared), params)
    ids = {job_id: pk_value for pk_value, job_id in cursor.fetchall()}
    for record in chunk:
        record["id"] = ids[record["job_id"]]


def _pg_type(field: Any) -> str:
    """What a value for ``field`` is cast to, so that a NULL sent once has a type: texts to
    ``text``, not to ``varchar(n)`` (that cast would cut a value too long instead of refusing
    it, as the column itself does)."""
    if field.get_internal_type() in ("CharField", "TextField"):
        return "text"
    return field.cast_db_type(connection)


@lru_cache(maxsize=64)
def _insert_shared_sql(rows: int, shared: tuple[bool, ...]) -> str:
    quote = connection.ops.quote_name
    fields = [f for f in JobRun._meta.concrete_fields if not f.primary_key]
    select = ", ".join(
        f"CAST({'%s' if once else f'claim.c{i}'} AS {_pg_type(field)})"
        for i, (field, once) in enumerate(zip(fields, shared, strict=True))
    )
    varying = [f"c{i}" for i, once in enumerate(shared) if not once]
    values = ", ".join(["(" + ", ".join(["%s"] * len(varying)) + ")"] * rows)
    return (
        f"INSERT INTO {quote(JobRun._meta.db_table)} "
        f"({', '.join(quote(f.column) for f in fields)}) "
        f"SELECT {select} FROM (VALUES {values}) AS claim ({', '.join(varying)}) "
        f"RETURNING {quote(JobRun._meta.pk.column)}, {quote(JobRun._meta.get_field('job').column)}"
    )


def insert_claims(records: list[Record]) -> None:
    """Insert run records; the ids of rows a database does not return are looked up."""
    if not records:
        return
    insert_runs(records)
    for record in records:
        if record.get("id") is None:  # a database that returns no ids from bulk inserts
            record["id"] = (
                JobRun.objects.filter(
                    job_id=record["job_id"],
                    scheduled=record["scheduled"],
                    attempt=record.get("attempt", 1),
                )
                .values_list("pk", flat=True)
                .first()
            )
