"""Catch-up policies with real akjobd processes, on SQLite, PostgreSQL and MariaDB: a job whose
occurrences piled up while no daemon ran (its next run time moved back, as an outage leaves it).

Several daemons share a database server; SQLite takes one. What ran is read from the file the
job code appends to (each run writes the occurrence ``current_run()`` told it) and checked
against the run records: no occurrence runs twice, none after the missed ones is lost, and the
oldest runs first.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.acceptance.jobs import occurrences
from tests.acceptance.project import alive, wait_for
from tests.acceptance.sites import Site

pytestmark = pytest.mark.acceptance

EVERY = 2  # seconds between occurrences
BACKLOG = 40  # seconds of occurrences missed before the daemons start


def settings(site: Site, text: str) -> None:
    """Append settings to the site's settings module (read by each process as it starts)."""
    path = site.project.base / "acc_settings.py"
    path.write_text(path.read_text() + text)


def backlog_job(site: Site, path: Path, policy: str) -> tuple[int, int]:
    """A job every EVERY s whose next run is BACKLOG s ago; (its id, its first occurrence)."""
    out = site.make(
        f"""
make("backlog", jobs.Occurrence({str(path)!r}), run_every=timedelta(seconds={EVERY}),
     catch_up={policy!r})
from akjob.models import Job
now = datetime.now(UTC).replace(microsecond=0)
first = now - timedelta(seconds={BACKLOG})
Job.objects.filter(name="backlog").update(
    _last_interval=first - timedelta(seconds={EVERY}), _next_run=first
)
print("first", int(first.timestamp()))
"""
    )
    return out["backlog"], out["first"]


def start_daemons(site: Site, base: Path) -> list[Path]:
    """Start akjobd processes on the site, each with a pid directory of its own: two on a
    database server, one on SQLite (which takes one akjobd per database file)."""
    dirs = []
    for i in range(1 if site.db is None else 2):
        pid_dir = base / f"daemon{i}"
        out = site.project.akjobd("start", pid_dir=pid_dir)
        assert "started" in out.stdout, out.stdout + out.stderr
        dirs.append(pid_dir)
    for pid_dir in dirs:
        wait_for(lambda d=pid_dir: alive(_pid(d)), timeout=15, what=f"akjobd in {pid_dir}")
    return dirs


def stop_daemons(site: Site, dirs: list[Path]) -> None:
    for pid_dir in dirs:
        assert site.project.akjobd("stop", pid_dir=pid_dir).returncode == 0


def _pid(pid_dir: Path) -> int | None:
    try:
        return int((pid_dir / "akjobd.pid").read_text().strip() or 0) or None
    except (FileNotFoundError, ValueError):
        return None


def epoch(value: object) -> int:
    if isinstance(value, str):  # SQLite hands back text
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return int(value.timestamp())


def records(site: Site, job: int) -> list[tuple[str, int, int, int | None, str]]:
    """(status, scheduled, missed_count, finished, error) of the job's runs, by occurrence."""
    rows = site.query(
        "SELECT status, scheduled, missed_count, finished, error FROM akjob_jobrun "
        "WHERE job_id = %s ORDER BY scheduled",
        job,
    )
    return [(s, epoch(at), n, epoch(f) if f else None, e) for s, at, n, f, e in rows]


def test_catch_up_all_runs_each_late_occurrence_once_oldest_first(site: Site, tmp_path: Path):
    settings(site, "AKJOB_CATCH_UP_MAX = 6\n")
    path = tmp_path / "ran"
    job, first = backlog_job(site, path, "all")
    dirs = start_daemons(site, tmp_path)
    # The late ones run, then the job keeps up: wait for runs of occurrences after the start.
    wait_for(
        lambda: len([r for r in occurrences(path) if r[0] > first + BACKLOG + 4 * EVERY]) >= 2,
        timeout=60,
        what="the backlog to be caught up and later runs",
    )
    stop_daemons(site, dirs)
    rows = records(site, job)
    ran = occurrences(path)

    # One record for the occurrences beyond AKJOB_CATCH_UP_MAX, from the oldest on (more such
    # records later if the runs fall behind again: a job stays at most that far behind).
    missed = [r for r in rows if r[0] == "missed"]
    assert missed[0][1] == first and "AKJOB_CATCH_UP_MAX (6 at a time)" in missed[0][4]
    decided = missed[0][3]  # when the daemon decided
    done = [r for r in rows if r[0] == "succeeded"]
    assert len(missed) + len(done) == len(rows)  # nothing else: no skipped, no failed
    # Exactly AKJOB_CATCH_UP_MAX of the occurrences due then were left to run (one of them is
    # recorded missed later when the job is that far behind again by the time it is claimed) ...
    kept = range(first + missed[0][2] * EVERY, decided + 1, EVERY)
    assert len(kept) == 6, (kept, rows)
    assert {r[1] for r in done if r[1] <= decided} <= set(kept)
    # ... and every occurrence from the first on is either run or in a missed record, once:
    # none lost, none twice.
    covered = [r[1] for r in done]
    for _, at, count, _, _ in missed:
        covered += range(at, at + count * EVERY, EVERY)
    assert sorted(covered) == list(range(first, max(covered) + 1, EVERY))
    # Each run was told its own occurrence, and the oldest ran first.
    told = [r[0] for r in ran]
    assert told == sorted(told), "runs started out of order"
    assert set(told) == {r[1] for r in done}
    assert len({r[1] for r in ran}) == len(ran)  # one run id per line


def after_two_runs(site: Site, tmp_path: Path, policy: str) -> tuple[int, list, Path]:
    """A backlog job with ``policy``, run by the daemons until it ran twice: its first
    occurrence, its run records and the file its runs wrote."""
    path = tmp_path / "ran"
    job, first = backlog_job(site, path, policy)
    dirs = start_daemons(site, tmp_path)
    wait_for(lambda: len(occurrences(path)) >= 2, timeout=30, what="two runs after the gap")
    stop_daemons(site, dirs)
    return first, records(site, job), path


def test_catch_up_none_records_them_missed_and_runs_the_next(site: Site, tmp_path: Path):
    first, rows, path = after_two_runs(site, tmp_path, "none")
    (missed,) = [r for r in rows if r[0] == "missed"]
    assert missed[1] == first and "catch_up is none" in missed[4]
    decided = missed[3]
    # Every occurrence from the first to the decision is in the one missed record.
    assert missed[2] == (decided - first) // EVERY + 1
    done = [r for r in rows if r[0] == "succeeded"]
    assert done and all(r[1] > decided for r in done)
    assert sorted(r[0] for r in occurrences(path)) == [r[1] for r in done][: len(occurrences(path))]


def test_catch_up_once_runs_once_for_all_of_them(site: Site, tmp_path: Path):
    first, rows, path = after_two_runs(site, tmp_path, "once")
    assert rows[0][0] == "succeeded" and rows[0][1] == first
    assert rows[0][2] >= BACKLOG // EVERY  # it stood for the occurrences up to its start
    assert occurrences(path)[0][0] == first
    assert not [r for r in rows if r[0] == "missed"]
