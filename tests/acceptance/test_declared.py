"""A real akjobd runs a job declared in code: ``akjobd start`` syncs the declarations (found in
an app's ``jobs`` module), and the job runs at its times, its first run one interval after the
sync and never at once."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest

from tests.acceptance.project import Project, alive, wait_for

pytestmark = pytest.mark.acceptance

# The app holding the declaration is installed only where WITH_APP is set: ``migrate`` (which
# syncs too) runs without it, so the job is created by akjobd's start.
SETTINGS = """
import os
INCODE_STAMPS = str(BASE_DIR / "stamps.txt")
if os.environ.get("WITH_APP"):
    INSTALLED_APPS = [*INSTALLED_APPS, "tests.incode.app"]
"""


@contextmanager
def akjobd_started(project: Project) -> Iterator[None]:
    """``akjobd start``, then a stop at the end (SIGKILL if it is still there)."""
    try:
        out = project.manage("akjobd", "start")
        assert "started" in out.stdout, out.stdout + out.stderr
        yield
    finally:
        project.manage("akjobd", "stop", check=False)
        pid = project.pid()
        if alive(pid):
            os.kill(pid, signal.SIGKILL)


def test_akjobd_start_syncs_and_runs_a_declared_job(tmp_path) -> None:
    project = Project(tmp_path, extra=SETTINGS)
    project.manage("migrate", "--noinput")
    assert project.sql("SELECT COUNT(*) FROM akjob_job") == [(0,)]
    project.env["WITH_APP"] = "1"
    dry = project.manage("akjobd", "sync", "--dry-run").stdout
    assert "create tests.incode.app.jobs.stamp: " in dry
    before = datetime.now(UTC).replace(microsecond=0)
    with akjobd_started(project):
        stamps = tmp_path / "stamps.txt"
        wait_for(
            lambda: stamps.exists() and len(stamps.read_text().split()) >= 3,
            timeout=30,
            what="three runs of the declared job",
        )
    ((job_id, key),) = project.sql("SELECT id, code_key FROM akjob_job")
    assert key == "tests.incode.app.jobs.stamp"
    runs = project.sql(
        "SELECT scheduled, status FROM akjob_jobrun WHERE job_id = ? ORDER BY scheduled", job_id
    )
    first = datetime.fromisoformat(runs[0][0]).replace(tzinfo=UTC)
    # The sync happened within a second or so of ``before``: a first run at the sync's own
    # moment would fall before ``before + 2 s``.
    assert first >= before + timedelta(seconds=2)
    times = [datetime.fromisoformat(t).replace(tzinfo=UTC) for t, _ in runs]
    assert all(b - a == timedelta(seconds=2) for a, b in zip(times, times[1:], strict=False))
    assert {status for _, status in runs} == {"succeeded"}
    ran = [float(t) for t in (tmp_path / "stamps.txt").read_text().split()]
    assert ran[0] >= first.timestamp()


LOCAL_JOBS = """\
import akjob


@akjob.scheduled(key="local-poll", every={every!r})
def poll():
    return None
"""


def test_changed_code_akjobd_loads_afresh_is_synced(tmp_path) -> None:
    app = tmp_path / "localjobs"
    app.mkdir()
    (app / "__init__.py").write_text("")
    (app / "jobs.py").write_text(LOCAL_JOBS.format(every="1h"))
    project = Project(tmp_path, extra='INSTALLED_APPS = [*INSTALLED_APPS, "localjobs"]\n')
    project.manage("migrate", "--noinput")  # syncs: the job exists, every hour
    assert project.sql("SELECT code_key, run_every FROM akjob_job") == [
        ("local-poll", 3600 * 10**6)
    ]
    with akjobd_started(project):
        jobs = app / "jobs.py"
        before = jobs.stat().st_mtime
        jobs.write_text(LOCAL_JOBS.format(every="2h"))
        # A new mtime even within the same second: akjobd, which imported the module to sync
        # at its start, sees the change and loads its code afresh, syncing again.
        os.utime(jobs, (before + 2, before + 2))
        wait_for(
            lambda: project.sql("SELECT run_every FROM akjob_job") == [(7200 * 10**6,)],
            timeout=90,
            what="the reloaded akjobd to sync the changed declaration",
        )
