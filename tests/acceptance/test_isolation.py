"""Runs are isolated, with a real akjobd (started by the command, killed with real signals) on
SQLite, PostgreSQL and MariaDB: job code that forks, leaves children or returns twice cannot
wedge the daemon or overlap two runs, and a daemon killed mid-run leaves nothing running."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from tests.acceptance.jobs import ticker_runs
from tests.acceptance.project import alive, processes_with, wait_for
from tests.acceptance.sites import Site

pytestmark = pytest.mark.acceptance


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of process ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_share(pid: int, *, over: float) -> float:
    """The share of one core process ``pid`` used in the next ``over`` seconds."""
    used, began = cpu_seconds(pid), time.monotonic()
    time.sleep(over)
    return (cpu_seconds(pid) - used) / (time.monotonic() - began)


def pids_in(path: Path) -> list[int]:
    return [int(x) for x in path.read_text().split()] if path.exists() else []


def test_job_code_that_forks_and_leaves_children_wedges_nothing(site: Site, tmp_path: Path):
    left, popen = tmp_path / "left", tmp_path / "popen"
    second = "run_every=timedelta(seconds=1)"
    job = site.make(
        f"""
make("leave-child", jobs.LeaveChild({str(left)!r}), {second})
make("leave-popen", jobs.LeavePopen({str(popen)!r}), {second})
make("leave-pool", jobs.LeavePool(), {second})
make("fork-return", jobs.ForkAndReturn(), {second})
make("fork-exit", jobs.ForkExitHard(), {second})
make("plain-a", jobs.Mark({str(tmp_path / "a")!r}), {second})
make("plain-b", jobs.Mark({str(tmp_path / "b")!r}), {second})
"""
    )
    pid = site.start()
    wait_for(
        lambda: all(len(site.runs(j)) >= 6 for j in job.values()),
        timeout=60,
        what="six runs of every job",
    )
    busy = cpu_seconds(pid)
    site.project.shell("from akjob.models import Job; Job.objects.update(job_enabled=False)")
    wait_for(
        lambda: not site.query("SELECT id FROM akjob_jobrun WHERE status = 'running'"),
        timeout=15,
        what="the runs in progress to end",
    )
    # Idle between runs: the daemon sleeps, it does not spin on what the runs left behind. It
    # may still record the last outcomes and ready its spare processes; then its CPU use over a
    # second must fall under 5% of a core (spinning takes all of one), within the deadline.
    wait_for(lambda: cpu_share(pid, over=1.0) < 0.05, timeout=20, what="akjobd to idle")
    assert busy < 60  # sanity: the figure is read from /proc
    stop = site.project.manage("akjobd", "stop")
    assert stop.returncode == 0, stop.stderr

    for name, job_id in job.items():
        runs = site.runs(job_id)
        for status, scheduled, started, finished, error, _ in runs:
            assert status not in ("running", "interrupted", "timed out"), (name, status, error)
            if status == "skipped":  # only an occurrence a real run of the job overlapped
                assert any(
                    s2 is not None and s2 <= scheduled < f2
                    for st, _, s2, f2, *_ in runs
                    if st not in ("skipped", "missed") and f2 is not None
                ), (name, scheduled, runs)
            elif status != "missed":
                assert status == "succeeded", (name, status, error)
                assert started <= finished
    # Nothing a run left behind outlived it.
    for child in pids_in(left) + pids_in(popen):
        assert not alive(child), f"process {child} left by a run is still alive"
    assert processes_with(str(site.project.base)) == []


def ticks_never_overlap(path: Path) -> dict[int, dict[str, list[float]]]:
    """Each run's own record (its start, its work's ticks, its end) against the others': no
    two runs were ever at work at once."""
    runs = ticker_runs(path)
    spans = sorted(
        (min(r["S"] + r["T"]), max(r["S"] + r["T"] + r["E"]), run_id) for run_id, r in runs.items()
    )
    for (_, end, a), (start, _, b) in zip(spans, spans[1:], strict=False):
        assert end < start, f"run {a} was still at work at {end} when run {b} began at {start}"
    return runs


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGHUP])
def test_akjobd_signalled_mid_run_never_overlaps_two_runs(site: Site, tmp_path: Path, sig: int):
    ticks = tmp_path / "ticks"
    job = site.make(
        f'make("ticker", jobs.Ticker({str(ticks)!r}, seconds=4), run_every=timedelta(seconds=1))'
    )["ticker"]
    pid = site.start()
    first = wait_for(lambda: ticker_runs(ticks), timeout=20, what="the first run to start")
    (first_id,) = first
    wait_for(lambda: len(ticker_runs(ticks)[first_id]["T"]) >= 5, timeout=10, what="ticks")
    log = site.project.log_dir / "akjobd.log"
    if sig == signal.SIGHUP:
        log.rename(log.with_suffix(".log.1"))  # as logrotate does, then it sends SIGHUP
    os.kill(pid, sig)
    if sig == signal.SIGKILL:
        wait_for(lambda: not alive(pid), timeout=5, what="akjobd to die")
        site.start()
    else:
        wait_for(lambda: log.exists(), timeout=10, what="akjobd to reopen its log")
        assert alive(pid), "SIGHUP must not stop akjobd"
    wait_for(
        lambda: len([r for r in ticker_runs(ticks).values() if r["E"]]) >= 2,
        timeout=40,
        what="two more complete runs",
    )
    assert site.project.manage("akjobd", "stop").returncode == 0
    runs = ticks_never_overlap(ticks)
    records = site.runs(job)
    died = [r for r in records if r[0] == "interrupted" and "died" in r[4]]
    first = next(r for r in records if r[0] != "skipped")
    if sig == signal.SIGKILL:
        assert died == [first], records  # the run in progress when akjobd was killed
        assert not runs[first_id]["E"], "the run recorded interrupted completed"
    else:
        assert died == [] and first[0] == "succeeded", records
        assert runs[first_id]["E"], "a SIGHUP stopped the run"
        assert "akjobd" in log.read_text()  # written after the reopen
    assert processes_with(str(site.project.base)) == []


def test_a_started_run_records_the_process_group_of_its_own(site: Site, tmp_path: Path):
    ticks = tmp_path / "ticks"
    job = site.make(
        f'make("ticker", jobs.Ticker({str(ticks)!r}, seconds=30), dates_list=[datetime.now(UTC)'
        " + timedelta(seconds=2)])"
    )["ticker"]
    pid = site.start()
    wait_for(lambda: ticker_runs(ticks), timeout=20, what="the run to start")
    ((status, *_, run_pid),) = site.runs(job)
    assert status == "running" and run_pid not in (None, pid)
    assert os.getpgid(run_pid) == run_pid  # the run leads a process group of its own
    assert os.getpgid(pid) != run_pid
    with open(f"/proc/{run_pid}/status") as f:
        assert any(line.split()[1:] == [str(pid)] for line in f if line.startswith("PPid:"))
    assert site.project.manage("akjobd", "stop").returncode == 0
    assert not alive(run_pid)
