"""A Django task declared in code is handed to its backend: akjobd (which synced the declaration
at its start) enqueues it at its times, and django-tasks-db's real ``db_worker`` runs it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.acceptance.project import wait_for
from tests.multidb.servers import Database
from tests.multidb.test_tasks import (  # noqa: F401 - the database fixture
    DB_WORKER,
    daemon_and_worker,
    database,
    db_backend_project,
)

pytestmark = [pytest.mark.acceptance, pytest.mark.postgres, pytest.mark.django_tasks]


def test_a_declared_task_runs_in_the_db_worker(database: Database, tmp_path: Path) -> None:  # noqa: F811
    project = db_backend_project(
        tmp_path,
        database,
        """
import os
if os.environ.get("WITH_APP"):
    INSTALLED_APPS = INSTALLED_APPS + ["tests.incode.taskapp"]
INCODE_STAMPS = str(BASE_DIR / "stamps.txt")
""",
    )
    project.env["WITH_APP"] = "1"
    stamps = tmp_path / "stamps.txt"
    with daemon_and_worker(project, database, DB_WORKER) as cluster:
        wait_for(
            lambda: len(successful(database)) >= 3,
            timeout=60,
            what="three declared task runs done by the db worker",
            every=0.5,
        )
        cluster.stop()
    ((key, backend),) = database.query(
        "SELECT j.code_key, r.task_backend FROM akjob_job j JOIN akjob_jobrun r "
        "ON r.job_id = j.id GROUP BY j.code_key, r.task_backend"
    )
    assert (key, backend) == ("tests.incode.taskapp.tasks.stamp_task", "default")
    ran = dict(line.split() for line in stamps.read_text().splitlines())
    for result_id in successful(database):
        assert result_id in ran, f"task {result_id} said successful but never ran"


def successful(db: Database) -> list[str]:
    rows = db.query(
        "SELECT r.task_result_id FROM akjob_jobrun r JOIN akjob_job j ON j.id = r.job_id "
        "WHERE j.code_key IS NOT NULL AND r.task_status = 'SUCCESSFUL'"
    )
    return [row[0] for row in rows]
