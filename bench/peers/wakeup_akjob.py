"""akjob: the cost of one ``Daemon.run_once`` with N jobs, 1% due, and idle.

    python -m bench.peers.wakeup_akjob [--sizes 1000,10000,100000] [--db sqlite|postgres|mysql]
                                       [--distinct]

The daemon runs with a supervisor that starts nothing, so the figure is scheduling and database
work only: finding the due jobs, deciding, claiming them (run records, compare-and-set updates)
and the next sleep. ``max_workers`` is the number of due jobs, so one wake-up claims them all.
SQLite by default (the peers' table); ``--db postgres`` or ``--db mysql`` use the server at
127.0.0.1 (user postgres or root), in a database of their own made for the run and dropped after.
The due jobs share one schedule and one occurrence, as a burst does; ``--distinct`` anchors each
one's interval differently, so that the daemon can share no decision and no value between them.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.peers import wakeup
from bench.peers.common import django_project, insert_rows, query_timer, timed


def null_supervisor(size: int) -> Any:
    """A supervisor that starts nothing: each claimed run stays 'running' and never ends, so a
    wake-up's cost is the daemon's own."""
    from akjob.daemon.supervisor import InlineSupervisor, Run

    class NullSupervisor(InlineSupervisor):
        def start(self, claimed: Any, pid: int, *, monotonic: float) -> Run:
            return Run(claimed, pid, None)

    return NullSupervisor(size=size)


def grow(total: int, now: datetime) -> list[int]:
    """Add jobs until the table holds ``total``; return every job id (in creation order)."""
    from akjob import codeobjects
    from akjob.models import Job, JobCallable

    template = Job(
        name="job",
        _job_code=codeobjects.dumps(JobCallable("math.floor", 1.5)),
        run_every=wakeup.HOUR,
    )
    rows = []
    for i in range(Job.objects.count(), total):
        nxt = wakeup.not_due_at(now, i)
        rows.append((f"job {i}", nxt - wakeup.HOUR, nxt))
    insert_rows(template, ["name", "_last_interval", "_next_run"], rows)
    return list(Job.objects.order_by("pk").values_list("pk", flat=True))


def set_next(ids: list[int], at: datetime, *, distinct: bool = False) -> None:
    """Make these jobs' next run ``at`` (and not running); forget their run records. With
    ``distinct``, each job's interval is anchored a different second before ``at``, so that no
    two share a schedule (nor a decision, nor a next run)."""
    from django.db import transaction

    from akjob.models import Job, JobRun

    with transaction.atomic():
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            Job.objects.filter(pk__in=chunk).update(
                _next_run=at,
                _last_interval=at - wakeup.HOUR,
                _run_count=0,
                _last_run=None,
            )
        if distinct:
            for k, pk in enumerate(ids):
                anchor = at - wakeup.HOUR - timedelta(seconds=k % 3000 + 1)
                Job.objects.filter(pk=pk).update(_last_interval=anchor)
        JobRun.objects.all().delete()


def measure(repeat: int, now: datetime, *, distinct: bool = False) -> Any:
    from akjob.daemon.loop import Daemon

    def wake(daemon: Daemon, samples: wakeup.Samples) -> None:
        daemon.children.clear()
        with query_timer() as db:
            ms, _ = timed(lambda: daemon.run_once(datetime.now(UTC)))
        samples.add(ms, db, len(daemon.children))

    def at_size(n: int, due: list[int]) -> dict[str, Any]:
        count = wakeup.samples_for(n, repeat)
        ids = grow(n, now)
        due_ids = [ids[i] for i in due]
        daemon = Daemon(supervisor=null_supervisor(len(due_ids)), max_workers=len(due_ids))
        daemon.register(datetime.now(UTC))
        return wakeup.due_then_idle(
            count,
            lambda at: set_next(due_ids, at, distinct=distinct),
            lambda s: wake(daemon, s),
            now,
        )

    return at_size


BENCH_DB = "akjob_wakeup_bench"
SERVERS = {
    "postgres": {"ENGINE": "django.db.backends.postgresql", "USER": "postgres", "PORT": "5432"},
    "mysql": {"ENGINE": "django.db.backends.mysql", "USER": "root", "PORT": "3306"},
}


@contextmanager
def server_database(db: str) -> Iterator[dict[str, Any] | None]:
    """Django's settings of a fresh database on the server ``db`` names, dropped at the end (None
    for SQLite: the project's own file)."""
    if db == "sqlite":
        yield None
        return
    settings = SERVERS[db] | {"NAME": BENCH_DB, "HOST": "127.0.0.1"}
    if db == "postgres":
        import psycopg

        def run(statement: str) -> None:
            with psycopg.connect(host="127.0.0.1", user="postgres", dbname="postgres") as conn:
                conn.autocommit = True
                conn.execute(statement)
    else:
        import MySQLdb

        def run(statement: str) -> None:
            conn = MySQLdb.connect(host="127.0.0.1", user="root")
            try:
                conn.cursor().execute(statement)
            finally:
                conn.close()

    run(f"DROP DATABASE IF EXISTS {BENCH_DB}")
    run(f"CREATE DATABASE {BENCH_DB}")
    try:
        yield settings
    finally:
        from django.db import connections

        connections.close_all()
        run(f"DROP DATABASE IF EXISTS {BENCH_DB}")


def main() -> None:
    args = wakeup.arguments(__doc__, databases=("sqlite", *SERVERS), distinct=True)
    with tempfile.TemporaryDirectory(prefix="akjob-bench-") as tmp, server_database(args.db) as db:
        django_project(Path(tmp), apps=["akjob"], database=db)
        now = datetime.now(UTC).replace(microsecond=0)
        name = "akjob" if args.db == "sqlite" else f"akjob ({args.db})"
        name += ", no two due jobs alike" if args.distinct else ""
        wakeup.run_sizes(name, args.sizes, measure(args.repeat, now, distinct=args.distinct))


if __name__ == "__main__":
    main()
