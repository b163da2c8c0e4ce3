"""The database server stopped for 30 s under three running daemons, then started again: the
daemons stay up, back off, reconnect and run what came due meanwhile, coalesced into one run per
job; no run is left "running"; nothing runs twice.

The jobs use their worker process's own database connection, kept open between runs
(``CONN_MAX_AGE``), so the outage breaks it: the worker must drop it and connect afresh.

The server is always started again (``finally``) and answers before the test ends.
"""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import pytest

from tests.acceptance.project import Project, wait_for
from tests.multidb.cluster import COUNTED, SETTINGS, Cluster, Row, sleep_until, utc
from tests.multidb.conftest import SERVERS
from tests.multidb.servers import (
    Database,
    can_control,
    fresh_database,
    start_server,
    stop_server,
)

pytestmark = pytest.mark.acceptance

JOBS = 60
OUTAGE = 30.0
PERSISTENT = """
DATABASES["default"]["CONN_MAX_AGE"] = 600
"""


@pytest.fixture(params=SERVERS)
def server(request: pytest.FixtureRequest) -> str:
    if not can_control(request.param):
        pytest.skip(f"cannot stop and start the {request.param} server here (needs root)")
    return request.param


def test_daemons_survive_a_database_outage(server: str, tmp_path: Path) -> None:
    with fresh_database(server) as db:
        cluster = outage_cluster(tmp_path, db)
        try:
            run_outage(cluster)
        finally:
            cluster.kill_all()


def outage_cluster(base: Path, db: Database) -> Cluster:
    extra = SETTINGS.format(workers=4) + PERSISTENT
    project = Project(base, database=db.settings, extra=extra)
    project.manage("migrate", "--noinput", timeout=180)
    return Cluster(project, db, 3)


def run_outage(cluster: Cluster) -> None:
    vendor = cluster.db.vendor
    first = int(time.time() + 5)
    jobs = cluster.create_jobs(JOBS, every=2, first=first, query=True)
    jobs += cluster.create_jobs(3, every=3, first=first, sleep=2.0, query=True, prefix="slow")
    cluster.start()
    sleep_until(first + 8)

    down = time.time()
    try:
        stop_server(vendor)
        deadline = down + OUTAGE
        while time.time() < deadline:  # the daemons must outlive the whole outage
            dead = [p.pid for p in cluster.procs if p.poll() is not None]
            assert not dead, f"akjobd {dead} died while the database was down"
            time.sleep(0.5)
    finally:
        restarted = time.time()
        start_server(vendor)
    up = time.time()

    # Every job runs again: what came due during the outage, coalesced into one run.
    def caught_up() -> bool:
        rows = cluster.rows()
        return {r.job for r in rows if r.started and r.started.timestamp() >= up} == set(jobs.first)

    wait_for(caught_up, timeout=30, what="every job to run after the outage", every=0.5)
    sleep_until(time.time() + 6)
    assert all(p.poll() is None for p in cluster.procs), "an akjobd died"
    cluster.stop()
    report = cluster.verify(jobs)

    for i in range(cluster.size):
        assert "database error, retrying" in cluster.output(i)
        assert "database reachable again" in cluster.output(i)
    # One record per job covers the outage: a run (or, for a slow job still running from
    # before, a skip) written after the server came back, for all the occurrences in it.
    middle = utc((down + up) / 2)
    for job in jobs.first:
        every = timedelta(seconds=jobs.every[job])
        covering = [
            r
            for r in report.rows
            if r.job == job and r.scheduled <= middle < r.scheduled + covered(r) * every
        ]
        assert len(covering) == 1, f"job {job}: {covering}"
        row = covering[0]
        assert covered(row) >= OUTAGE / jobs.every[job] - 3, row
        assert (row.started or row.finished).timestamp() >= restarted, row
    # Workers whose connection broke recovered: no run failed once they had had a chance to.
    late = [r for r in report.rows if r.started and r.started.timestamp() > up + 5]
    assert any(r.status == "succeeded" for r in late)
    failed = [(r.job, r.error[-300:]) for r in late if r.status == "failed"]
    assert not failed, failed


def covered(row: Row) -> int:
    """How many occurrences a record stands for (its own and those coalesced into it)."""
    return row.missed + 1 if row.status in COUNTED else row.missed
