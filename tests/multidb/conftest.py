"""Fixtures of the multi-daemon tests: a fresh database on the real server, a project pointing at
it, and a cluster of akjobd processes, all torn down by the test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.acceptance.project import Project
from tests.multidb.cluster import SETTINGS, Cluster
from tests.multidb.servers import Database, fresh_database

SERVERS = [
    pytest.param("postgres", marks=pytest.mark.postgres, id="postgres"),
    pytest.param("mysql", marks=pytest.mark.mysql, id="mysql"),
]


def make_cluster(base: Path, db: Database, *, size: int = 3, workers: int = 4) -> Cluster:
    project = Project(base, database=db.settings, extra=SETTINGS.format(workers=workers))
    project.manage("migrate", "--noinput", timeout=180)
    return Cluster(project, db, size)


@pytest.fixture(params=SERVERS)
def database(request: pytest.FixtureRequest) -> Iterator[Database]:
    with fresh_database(request.param) as db:
        yield db


@pytest.fixture
def cluster(database: Database, tmp_path: Path) -> Iterator[Cluster]:
    cluster = make_cluster(tmp_path, database)
    try:
        yield cluster
    finally:
        cluster.kill_all()
