"""Run now is a request: with a real akjobd it never runs another job, never stops akjobd, and
with no akjobd ``akjobd runjob`` runs the one job asked for and leaves nothing behind."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from tests.acceptance.jobs import ticker_runs
from tests.acceptance.project import alive, processes_with, wait_for
from tests.acceptance.sites import Site

pytestmark = pytest.mark.acceptance

OVERDUE = "dates_list=[datetime.now(UTC) - timedelta(minutes=5)]"


def test_runjob_without_akjobd_runs_exactly_that_job_and_leaves_nothing(site: Site, tmp_path):
    job = site.make(
        f"""
make("a", jobs.Mark({str(tmp_path / "a")!r}), {OVERDUE})
make("b", jobs.Mark({str(tmp_path / "b")!r}), {OVERDUE})
from akjob.models import Job
Job.objects.update(_next_run=datetime.now(UTC) - timedelta(minutes=1))  # both overdue
"""
    )
    out = site.project.manage("akjobd", "runjob", "-id", str(job["b"]))
    assert f"job {job['b']} ran: succeeded" in out.stdout, out.stdout + out.stderr
    assert (tmp_path / "b").exists() and not (tmp_path / "a").exists()
    assert [r[0] for r in site.runs(job["b"])] == ["succeeded"]
    assert site.runs(job["a"]) == []
    # No akjobd is left looking alive, and no process of the run.
    assert site.query("SELECT id FROM akjob_daemonrecord WHERE stopped IS NULL") == []
    assert processes_with(str(site.project.base)) == []


def test_run_now_refusals_never_stop_akjobd(site: Site, tmp_path: Path):
    ticks = tmp_path / "ticks"
    job = site.make(
        f"""
make("disabled", jobs.Mark({str(tmp_path / "d")!r}), run_every=timedelta(hours=1),
     job_enabled=False)
make("used-up", jobs.Mark({str(tmp_path / "u")!r}), run_every=timedelta(hours=1),
     run_count_limit=1)
make("running", jobs.Ticker({str(ticks)!r}, seconds=60),
     dates_list=[datetime.now(UTC) + timedelta(seconds=1)])
from akjob.models import Job
Job.objects.filter(name="used-up").update(_run_count=1)
"""
    )
    pid = site.start()
    wait_for(lambda: ticker_runs(ticks), timeout=20, what="the long run to start")
    reasons = {
        "disabled": "is disabled",
        "used-up": "used up its run count limit (1 of 1 runs)",
        "running": "is running now",
    }
    for name, reason in reasons.items():
        out = site.project.manage("akjobd", "runjob", "-id", str(job[name]), check=False)
        assert out.returncode == 1 and reason in out.stderr, (name, out.stdout, out.stderr)
    # A used-up job made due behind akjob's back (a direct UPDATE) cannot stop it either.
    long_ago = "2020-01-01 00:00:00"
    site.query("UPDATE akjob_job SET _next_run = %s WHERE id = %s", long_ago, job["used-up"])
    wait_for(lambda: site.runs(job["used-up"]), timeout=15, what="the bad row to be recorded")
    ((status, *_, error, _),) = site.runs(job["used-up"])
    assert status == "failed" and "could not decide" in error
    time.sleep(1.5)  # a few more loops of the daemon over the same rows
    assert alive(pid)
    assert site.project.manage("akjobd", "stop").returncode == 0
    pid = site.start()  # and it starts again
    time.sleep(1.5)
    assert alive(pid) and site.project.manage("akjobd", "status").returncode == 0


def test_ctrl_c_of_runjob_stops_the_run_cleanly(tmp_path):
    from tests.acceptance.sites import sites

    site = next(sites("sqlite", tmp_path))
    ticks = tmp_path / "ticks"
    job = site.make(
        f'make("long", jobs.Ticker({str(ticks)!r}, seconds=60), run_every=timedelta(hours=1))'
    )["long"]
    proc = site.project.popen("akjobd", "runjob", "-id", str(job))
    try:
        wait_for(lambda: ticker_runs(ticks), timeout=20, what="the run to start")
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        site.project.kill_all()
    assert "Traceback" not in err, err
    assert f"job {job} ran: interrupted" in out, out + err
    assert [r[0] for r in site.runs(job)] == ["interrupted"]
    wait_for(
        lambda: processes_with(str(site.project.base)) == [], timeout=10, what="no process left"
    )
