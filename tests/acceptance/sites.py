"""A throw-away project on each database akjob supports, for acceptance tests that run the same
on all three (the ``site`` fixture in conftest.py)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.acceptance.project import Project, alive, wait_for
from tests.multidb.servers import fresh_database

SETUP = """
from datetime import datetime, timedelta, UTC
from akjob.models import Job
from tests.acceptance import jobs
def make(name, code, **fields):
    job = Job(name=name, **fields)
    job.job_code_object = code
    job.save()
    print(name, job.pk)
"""
DATABASES = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", marks=pytest.mark.postgres, id="postgres"),
    pytest.param("mysql", marks=pytest.mark.mysql, id="mysql"),
]


class Site:
    """A throw-away project on one database, and SQL against that database."""

    def __init__(self, project: Project, db: Any) -> None:
        self.project, self.db = project, db

    def query(self, sql: str, *params: Any) -> list[tuple]:
        if self.db is None:
            with sqlite3.connect(self.project.db, timeout=20) as conn:
                return conn.execute(sql.replace("%s", "?"), params).fetchall()
        return self.db.query(sql, *params)

    def runs(self, job_id: int) -> list[tuple]:
        """(status, scheduled, started, finished, error, pid) of the job's runs, in order."""
        return self.query(
            "SELECT status, scheduled, started, finished, error, pid FROM akjob_jobrun "
            "WHERE job_id = %s ORDER BY scheduled",
            job_id,
        )

    def make(self, code: str) -> dict[str, int]:
        out = self.project.shell(SETUP + code)
        return {line.split()[0]: int(line.split()[1]) for line in out.splitlines() if line}

    def start(self) -> int:
        out = self.project.manage("akjobd", "start")
        assert "started" in out.stdout, out.stdout + out.stderr
        return wait_for(
            lambda: alive(self.project.pid()) and self.project.pid(), timeout=15, what="pid"
        )


def build(tmp_path: Path, db: Any) -> Site:
    project = Project(tmp_path, database=db.settings if db else None, grace=3)
    project.manage("migrate", "--noinput", timeout=180)
    return Site(project, db)


def sites(vendor: str, tmp_path: Path) -> Iterator[Site]:
    """A site on ``vendor`` ("sqlite", "postgres" or "mysql"), its processes killed at the end."""
    if vendor == "sqlite":
        site = build(tmp_path, None)
        try:
            yield site
        finally:
            site.project.kill_all()
        return
    with fresh_database(vendor) as db:
        site = build(tmp_path, db)
        try:
            yield site
        finally:
            site.project.kill_all()
