"""Three real processes sync the schedules declared in code at the same moment (a barrier
releases them together): nothing is created twice, no change is lost, each change is made by
exactly one of them, and the jobs keep their run counts and histories.

The declarations come from ``AKJOB_SCHEDULES``, in two versions picked by an environment
variable: ``migrate`` syncs the first (the sync after migrate), the racing processes the second.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.acceptance.project import Project, wait_for
from tests.multidb.servers import Database, fresh_database

pytestmark = pytest.mark.acceptance

PROCESSES = 3
KEPT, NEW, REMOVED = 20, 10, 5

SETTINGS = f"""
import os

_F = "tests.incode.funcs.poll"
if os.environ.get("SCHEDULES") == "before":
    AKJOB_SCHEDULES = {{
        f"k{{i:02}}": {{"function": _F, "every": f"{{i + 1}}m"}} for i in range({KEPT})
    }}
    AKJOB_SCHEDULES |= {{f"r{{i:02}}": {{"function": _F, "every": "1h"}} for i in range({REMOVED})}}
else:
    AKJOB_SCHEDULES = {{
        f"k{{i:02}}": {{"function": _F, "cron": f"{{i}} * * * *", "timeout": "30s"}}
        for i in range({KEPT})
    }}
    AKJOB_SCHEDULES |= {{f"n{{i:02}}": {{"function": _F, "every": "2h"}} for i in range({NEW})}}
"""

# Run by each racing process: say it is ready, wait at the barrier (a FIFO that opens for
# reading once the test opens it for writing), sync, print the report as JSON.
RACER = """
import json, os, sys
from akjob import sync
base = {base!r}
open(os.path.join(base, f"ready-{{os.getpid()}}"), "w").close()
with open(os.path.join(base, "barrier")) as gate:
    pass
report = sync.sync()
print(json.dumps([[c.action, c.key] for c in report.changes]))
"""


def project_for(vendor: str, base: Path, db: Database | None) -> Project:
    database = db.settings if db is not None else None
    return Project(base, database=database, extra=SETTINGS)


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", marks=pytest.mark.postgres, id="postgres"),
        pytest.param("mysql", marks=pytest.mark.mysql, id="mysql"),
    ]
)
def vendor_db(request: pytest.FixtureRequest) -> Iterator[tuple[str, Database | None]]:
    if request.param == "sqlite":
        yield "sqlite", None
        return
    if request.param == "mysql":
        pytest.importorskip("MySQLdb")  # the Django 6 environment has no MariaDB driver
    with fresh_database(request.param) as db:
        yield request.param, db


def rows(project: Project, db: Database | None, sql: str) -> list[tuple]:
    if db is None:
        return project.sql(sql)
    return db.query(sql.replace("?", "%s"))


def test_three_processes_sync_at_once(vendor_db, tmp_path: Path) -> None:
    vendor, db = vendor_db
    project = project_for(vendor, tmp_path, db)
    project.env["SCHEDULES"] = "before"
    result = project.manage("migrate", "--noinput", timeout=240)
    del project.env["SCHEDULES"]
    assert f"schedules in code: {KEPT + REMOVED} changed" in result.stdout  # after migrate
    project.shell(
        "from akjob.models import Job, JobRun\n"
        "from datetime import datetime, UTC\n"
        "for job in Job.objects.filter(code_key__startswith='k'):\n"
        "    Job.objects.filter(pk=job.pk).update(_run_count=5)\n"
        "    JobRun.objects.create(job=job, job_name=job.name, status='succeeded',\n"
        "                          scheduled=datetime(2026, 1, 1, tzinfo=UTC))\n"
    )
    old_ids = dict(rows(project, db, "SELECT code_key, id FROM akjob_job"))

    os.mkfifo(tmp_path / "barrier")
    racers = [
        subprocess.Popen(
            project.command("shell", "-v", "0", "-c", RACER.format(base=str(tmp_path))),
            cwd=project.base,
            env=project.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(PROCESSES)
    ]
    try:
        wait_for(
            lambda: len(list(tmp_path.glob("ready-*"))) == PROCESSES,
            timeout=60,
            what="the racing processes at the barrier",
        )
        # Opening for writing releases every reader at once; kept open until they all ran.
        gate = os.open(tmp_path / "barrier", os.O_WRONLY)
        outputs = [proc.communicate(timeout=120) for proc in racers]
        os.close(gate)
    finally:
        for proc in racers:
            if proc.poll() is None:
                proc.kill()
    for proc, (_out, err) in zip(racers, outputs, strict=True):
        assert proc.returncode == 0, err
    made = Counter()
    for out, _err in outputs:
        for action, key in json.loads(out.strip().splitlines()[-1]):
            made[action, key] += 1
    # Each change made once, by one of the three.
    assert set(made.values()) == {1}
    actions = Counter(action for action, _key in made)
    assert actions == {"update": KEPT, "create": NEW, "disable": REMOVED}

    jobs = rows(
        project,
        db,
        "SELECT code_key, id, cron, run_every, timeout, job_enabled, _run_count, code_removed "
        "FROM akjob_job ORDER BY code_key",
    )
    keys = [row[0] for row in jobs]
    assert len(keys) == len(set(keys)) == KEPT + NEW + REMOVED  # nothing twice
    by_key = {row[0]: row for row in jobs}
    for i in range(KEPT):
        key, pk, cron, every, timeout, enabled, count, removed = by_key[f"k{i:02}"]
        assert pk == old_ids[key]
        assert (cron, every, enabled, removed) == (f"{i} * * * *", None, 1, None)
        assert timeout is not None  # the change reached every row
        assert count == 5
    for i in range(REMOVED):
        _key, _pk, _cron, _every, _timeout, enabled, _count, removed = by_key[f"r{i:02}"]
        assert not enabled and removed is not None
    history = rows(
        project,
        db,
        "SELECT COUNT(*) FROM akjob_jobrun r JOIN akjob_job j ON j.id = r.job_id "
        "WHERE j.code_key LIKE 'k%'",
    )
    assert history == [(KEPT,)]
    # A sync after the race finds nothing left to do.
    assert (
        project.manage("akjobd", "sync")
        .stdout.strip()
        .endswith(f"0 changed, {KEPT + NEW + REMOVED} unchanged, 0 invalid")
    )
