"""Runs handed to Django's Tasks framework reach a real task worker at their times, and the
tasks' outcomes land in akjob's run records.

Two real backends, each with its real worker process: django-tasks-db's ``db_worker`` on
PostgreSQL, and django-tasks-rq's RQ worker on the machine's Redis. One akjobd schedules.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.acceptance.project import REPO, Project, wait_for
from tests.multidb.cluster import SETTINGS, Cluster
from tests.multidb.servers import Database, fresh_database

pytestmark = [pytest.mark.acceptance, pytest.mark.postgres, pytest.mark.django_tasks]

REQUIRE = os.environ.get("AKJOB_REQUIRE_SERVICES") == "1"
EVERY = 2

CREATE = """
from datetime import datetime, timedelta, UTC
from akjob.models import Job
from akjob.tasks import TaskCall
from tests.multidb import taskfuncs
first = datetime.fromtimestamp({first}, UTC)
for i in range(3):
    job = Job(name=f"stamp{{i}}", run_every=timedelta(seconds={every}),
              _last_interval=first - timedelta(seconds={every}))
    job.job_code_object = TaskCall(taskfuncs.stamp.using(queue_name={queue!r}), {path!r})
    job.save()
job = Job(name="fail", run_every=timedelta(seconds=3), _last_interval=first)
job.job_code_object = TaskCall(taskfuncs.fail.using(queue_name={queue!r}), "x")
job.save()
"""


def require_packages(*modules: str) -> None:
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if not missing:
        return
    if REQUIRE:
        pytest.fail(f"{', '.join(missing)} required (AKJOB_REQUIRE_SERVICES=1) but not installed")
    pytest.skip(f"not installed: {', '.join(missing)} (pip install akjob[tasks] and a backend)")


def framework_apps() -> list[str]:
    """The backport is an app of its own; Django 6's django.tasks is part of Django."""
    return [] if importlib.util.find_spec("django.tasks") else ["django_tasks"]


@pytest.fixture
def database() -> Iterator[Database]:
    with fresh_database("postgres") as db:
        yield db


def project_with(base: Path, db: Database, settings: str) -> Project:
    project = Project(base, database=db.settings, extra=SETTINGS.format(workers=2) + settings)
    project.manage("migrate", "--noinput", timeout=180)
    return project


def worker(project: Project, *args: str) -> subprocess.Popen:
    out = open(project.base / "worker.txt", "wb")  # noqa: SIM115 - the worker keeps it
    proc = subprocess.Popen(
        [sys.executable, str(REPO / "manage.py"), *args],
        cwd=project.base,
        env=project.env,
        stdout=out,
        stderr=subprocess.STDOUT,
    )
    out.close()
    return proc


@contextlib.contextmanager
def daemon_and_worker(project: Project, db: Database, worker_args: list[str]) -> Iterator[Cluster]:
    """One akjobd and one task worker (``manage.py *worker_args``), both killed at the end."""
    cluster = Cluster(project, db, 1)
    task_worker = worker(project, *worker_args)
    try:
        cluster.start()
        yield cluster
    finally:
        task_worker.terminate()
        try:
            task_worker.wait(20)
        except subprocess.TimeoutExpired:
            task_worker.kill()
        cluster.kill_all()


def hand_off_and_check(
    project: Project, db: Database, worker_args: list[str], *, queue: str = "default"
) -> None:
    stamps = project.base / "stamps.txt"
    first = int(time.time() + 6)
    project.shell(CREATE.format(first=first, every=EVERY, path=str(stamps), queue=queue))
    with daemon_and_worker(project, db, worker_args) as cluster:
        wait_for(
            lambda: len(stamp_runs(db, "SUCCESSFUL")) >= 12 and failed_runs(db) and stamps.exists(),
            timeout=60,
            what="task outcomes in akjob's run records",
            every=0.5,
        )
        cluster.stop()

    ran = dict(line.split() for line in stamps.read_text().splitlines())
    done = stamp_runs(db, "SUCCESSFUL")
    for result_id, scheduled, status in done:
        assert status == "succeeded"
        assert result_id in ran, f"task {result_id} said successful but never ran"
        late = float(ran[result_id]) - scheduled.timestamp()
        assert 0 <= late < 3, f"task {result_id} ran {late:.2f} s after its time"
    # Every run record of the stamp jobs points at a task that really ran (or is about to).
    ids = [r[0] for r in stamp_runs(db, None)]
    assert len(set(ids)) == len(ids)
    for status, task_status, error in failed_runs(db):
        assert (status, task_status) == ("failed", "FAILED")
        assert "failing task x" in error


def stamp_runs(db: Database, task_status: str | None) -> list[tuple]:
    sql = (
        "SELECT r.task_result_id, r.scheduled, r.status FROM akjob_jobrun r "
        "JOIN akjob_job j ON j.id = r.job_id WHERE j.name LIKE 'stamp%%' "
        "AND r.task_result_id <> ''"
    )
    if task_status is None:
        return db.query(sql)
    return db.query(sql + " AND r.task_status = %s", task_status)


def failed_runs(db: Database) -> list[tuple]:
    return db.query(
        "SELECT r.status, r.task_status, r.error FROM akjob_jobrun r "
        "JOIN akjob_job j ON j.id = r.job_id WHERE j.name = 'fail' AND r.task_status = 'FAILED'"
    )


DB_WORKER = ["db_worker", "--interval", "0.1", "--no-startup-delay", "--no-reload", "-v", "0"]


def db_backend_project(base: Path, db: Database, extra: str = "") -> Project:
    """A project whose tasks go to django-tasks-db's database backend (skipped without it)."""
    require_packages("django_tasks_db")
    apps = framework_apps() + ["django_tasks_db"]
    settings = f"""
INSTALLED_APPS = INSTALLED_APPS + {apps!r}
TASKS = {{"default": {{"BACKEND": "django_tasks_db.DatabaseBackend"}}}}
"""
    return project_with(base, db, settings + extra)


def test_database_backend_and_its_db_worker(database: Database, tmp_path: Path) -> None:
    project = db_backend_project(tmp_path, database)
    hand_off_and_check(project, database, DB_WORKER)


@pytest.mark.redis
def test_rq_backend_and_its_rq_worker(database: Database, tmp_path: Path) -> None:
    require_packages("django_tasks_rq", "django_rq", "redis")
    queue = f"akjob_{uuid.uuid4().hex[:10]}"
    apps = framework_apps() + ["django_rq", "django_tasks_rq"]
    project = project_with(
        tmp_path,
        database,
        f"""
INSTALLED_APPS = INSTALLED_APPS + {apps!r}
REDIS = {{"HOST": "127.0.0.1", "PORT": 6379, "DB": 0}}
RQ_QUEUES = {{"default": REDIS, {queue!r}: REDIS}}
TASKS = {{
    "default": {{"BACKEND": "django_tasks_rq.RQBackend", "QUEUES": ["default", {queue!r}]}}
}}
""",
    )
    try:  # a queue of its own on the machine's Redis: nothing else's work is touched
        hand_off_and_check(
            project,
            database,
            ["rqworker", "--job-class", "django_tasks_rq.Job", queue],
            queue=queue,
        )
    finally:
        import redis

        conn = redis.Redis(host="127.0.0.1", port=6379, db=0)
        for key in conn.scan_iter(f"*{queue}*"):
            conn.delete(key)
