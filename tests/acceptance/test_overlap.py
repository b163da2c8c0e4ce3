"""Overlap policies and retries with real akjobd processes, on SQLite (one akjobd), PostgreSQL
and MariaDB (two akjobd sharing the database): what the runs did is read from the file their
code appends to (a line as each run starts and ends) and checked against the run records.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from tests.acceptance.jobs import spans
from tests.acceptance.project import alive, wait_for
from tests.acceptance.sites import Site
from tests.acceptance.test_policies import epoch, settings, start_daemons, stop_daemons

pytestmark = pytest.mark.acceptance


def make(site: Site, path: Path, *, every: int, sleep: float, **fields: object) -> int:
    options = "".join(f", {name}={value!r}" for name, value in fields.items())
    out = site.make(
        f"make('overlap', jobs.Span({str(path)!r}, sleep={sleep}), "
        f"run_every=timedelta(seconds={every}){options})"
    )
    return out["overlap"]


def intervals(path: Path) -> list[tuple[int, int, float, float | None]]:
    """(scheduled, attempt, start, end or None) of each run the file tells of, by start."""
    rows = spans(path)
    ends = {(s, a): t for what, s, a, _, t in rows if what == "end"}
    return sorted(
        ((s, a, t, ends.get((s, a))) for what, s, a, _, t in rows if what == "start"),
        key=lambda r: r[2],
    )


def most_at_once(runs: list[tuple[int, int, float, float | None]], until: float) -> int:
    """The most runs in progress at one moment (a run with no end lasted until ``until``)."""
    edges = [(start, 1) for _, _, start, _ in runs]
    edges += [(end if end is not None else until, -1) for _, _, _, end in runs]
    busy = most = 0
    for _, step in sorted(edges, key=lambda e: (e[0], e[1])):
        busy += step
        most = max(most, busy)
    return most


def records(site: Site, job: int) -> list[tuple[str, int, int, str, object]]:
    rows = site.query(
        "SELECT status, scheduled, attempt, error, waited FROM akjob_jobrun "
        "WHERE job_id = %s ORDER BY scheduled, attempt",
        job,
    )
    return [(s, epoch(at), n, e, w) for s, at, n, e, w in rows]


def test_queue_never_overlaps_and_runs_the_waiting_occurrence_when_the_run_ends(
    site: Site, tmp_path: Path
):
    path = tmp_path / "spans"
    job = make(site, path, every=2, sleep=5, overlap="queue")
    dirs = start_daemons(site, tmp_path)
    wait_for(lambda: len([r for r in intervals(path) if r[3]]) >= 3, timeout=60, what="3 runs")
    stop_daemons(site, dirs)
    runs = intervals(path)
    assert most_at_once(runs, until=time.time()) == 1, (runs, records(site, job))
    # Each waiting occurrence started soon after the run before it ended.
    for before, after in zip(runs, runs[1:], strict=False):
        assert before[3] is not None and 0 <= after[2] - before[3] < 3, runs
    rows = records(site, job)
    assert {r[0] for r in rows} <= {"succeeded", "skipped", "interrupted"}
    skipped = [r for r in rows if r[0] == "skipped"]
    assert skipped and all("overlap: queue" in r[3] for r in skipped)
    waited = [r for r in rows if r[0] == "succeeded" and r[4] is not None]
    assert len(waited) >= 2  # the runs after the first waited, and say so
    ran = [r[0] for r in runs]
    assert len(ran) == len(set(ran))  # no occurrence twice
    assert not set(ran) & {r[1] for r in skipped}


def test_allow_overlaps_up_to_max_instances_and_skips_beyond(site: Site, tmp_path: Path):
    path = tmp_path / "spans"
    job = make(site, path, every=1, sleep=3.5, overlap="allow", max_instances=2)
    dirs = start_daemons(site, tmp_path)
    wait_for(lambda: len(intervals(path)) >= 5, timeout=60, what="5 runs")
    stop_daemons(site, dirs)
    runs = intervals(path)
    assert most_at_once(runs, until=time.time()) == 2, (runs, records(site, job))
    rows = records(site, job)
    skipped = [r for r in rows if r[0] == "skipped"]
    assert skipped and all("max_instances 2" in r[3] for r in skipped)
    ran = [r[0] for r in runs]
    assert len(ran) == len(set(ran))
    assert not set(ran) & {r[1] for r in skipped}


def test_replace_stops_the_run_in_progress_and_starts_the_new_one(site: Site, tmp_path: Path):
    path = tmp_path / "spans"
    job = make(site, path, every=3, sleep=60, overlap="replace")
    dirs = start_daemons(site, tmp_path)
    wait_for(lambda: len(intervals(path)) >= 3, timeout=60, what="3 runs")

    def replaced_gone() -> bool:
        # Every run that a newer run replaced more than 3 s ago has no process left (its own
        # daemon stops it at once; another daemon at its next lease renewal, every second).
        rows = [r for r in spans(path) if r[0] == "start"]
        return all(
            not alive(pid)
            for (_, _, _, pid, _), (*_, later) in zip(rows, rows[1:], strict=False)
            if time.time() - later > 3
        )

    wait_for(replaced_gone, timeout=15, what="the replaced runs' processes to end")
    stop_daemons(site, dirs)
    rows = records(site, job)
    runs = intervals(path)
    # Each run was stopped when the next one started (give or take the moment between the new
    # run's process and the daemon looking at the time): by SIGTERM, its end written, from the
    # daemon that claimed the next one, or by SIGKILL, no end, from its own at a lease renewal.
    for before, after in zip(runs, runs[1:], strict=False):
        assert before[3] is None or -0.2 < before[3] - after[2] < 1.5, runs
    replaced = [r for r in rows if "replaced by the run of the occurrence" in r[3]]
    assert len(replaced) >= 2 and {r[0] for r in replaced} == {"interrupted"}
    ran = [r[0] for r in runs]
    assert len(ran) == len(set(ran))


@pytest.mark.parametrize("hard", [False, True], ids=["raises", "exits-hard"])
def test_a_failed_occurrence_is_retried_each_attempt_once(site: Site, tmp_path: Path, hard: bool):
    path = tmp_path / "spans"
    out = site.make(
        f"""
first = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=4)
make('retried', jobs.Span({str(path)!r}, succeed_at=3, hard={hard}),
     run_every=timedelta(minutes=10),
     first_run_at=first, retries=3, retry_backoff=timedelta(seconds=1), retry_backoff_factor=1)
print("first", int(first.timestamp()))
"""
    )
    job, first = out["retried"], out["first"]
    dirs = start_daemons(site, tmp_path)
    wait_for(
        lambda: [r[0] for r in records(site, job)] == ["failed", "failed", "succeeded"],
        timeout=60,
        what="two failed attempts and a third that succeeds",
    )
    stop_daemons(site, dirs)
    rows = records(site, job)
    assert [(r[0], r[1], r[2]) for r in rows] == [
        ("failed", first, 1),
        ("failed", first, 2),
        ("succeeded", first, 3),
    ]
    runs = intervals(path)
    assert [(s, a) for s, a, *_ in runs] == [(first, 1), (first, 2), (first, 3)]
    for before, after in zip(runs, runs[1:], strict=False):
        assert after[2] - before[3] >= 0.9  # the retry waited its second (rounded up)
    # No retry left waiting: the job is back on its schedule, with one run counted.
    count, nxt = site.query("SELECT _run_count, _next_run FROM akjob_job WHERE id = %s", job)[0]
    assert (count, epoch(nxt)) == (1, first + 600)
    assert site.query("SELECT COUNT(*) FROM akjob_jobrun WHERE retry_at IS NOT NULL")[0][0] == 0


def test_a_stopping_daemon_keeps_its_runs_through_a_stop_grace_longer_than_their_lease(
    site: Site, tmp_path: Path
):
    """SIGTERM to the daemon that owns a run, with ``AKJOB_STOP_GRACE`` (10 s) longer than
    ``AKJOB_LEASE`` (3 s): while the run finishes within the grace, its daemon keeps its lease,
    so the other daemon neither calls it dead nor starts the job beside it."""
    settings(site, "\nAKJOB_STOP_GRACE = 10\n")
    path = tmp_path / "spans"
    job = make(site, path, every=2, sleep=7)
    dirs = start_daemons(site, tmp_path)
    wait_for(lambda: len(intervals(path)) >= 1, timeout=30, what="the first run")
    (owner,) = site.query(
        "SELECT d.pid FROM akjob_jobrun r JOIN akjob_daemonrecord d ON d.id = r.daemon_id "
        "WHERE r.job_id = %s AND r.status = 'running'",
        job,
    )
    os.kill(owner[0], signal.SIGTERM)
    first = intervals(path)[0]
    wait_for(lambda: intervals(path)[0][3] is not None, timeout=15, what="the first run's end")
    # The other daemon takes the job over once the first run has ended, not before.
    if site.db is not None:
        wait_for(lambda: len(intervals(path)) >= 2, timeout=15, what="a run on the other daemon")
    wait_for(lambda: not alive(owner[0]), timeout=15, what="the stopped akjobd to exit")
    stop_daemons(site, dirs)
    runs = intervals(path)
    assert most_at_once(runs, until=time.time()) == 1, (runs, records(site, job))
    assert runs[0][3] - first[2] > 6.5  # it ran its 7 s: not stopped, not overlapped
    rows = records(site, job)
    assert rows[0][0] == "succeeded", rows
    assert not [r for r in rows if r[0] == "interrupted"], rows
