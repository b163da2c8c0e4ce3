"""Three real akjobd processes against one PostgreSQL or MariaDB database: every occurrence runs
once among them, work spreads, and a daemon killed or stopped in the middle costs nothing twice.

300 jobs every 2 seconds (150 runs a second between the daemons), leases of 3 s renewed every
second. What ran is read from the file the job code appends to and checked against the run
records and the run counts (:meth:`Cluster.verify`).
"""

from __future__ import annotations

import signal
import time

import pytest

from tests.acceptance.project import wait_for
from tests.multidb.cluster import Cluster, Jobs, Report, Row, sleep_until

pytestmark = pytest.mark.acceptance

JOBS = 300
LEAD = 4.0  # seconds from now to the first occurrence: time to start the daemons


def start(cluster: Cluster, *, slow: int = 0) -> tuple[float, Jobs, set[int]]:
    """Create the jobs (and ``slow`` jobs that take 2.5 s, every 5 s), start the daemons; return
    the first occurrence (epoch seconds), the jobs and the ids of the slow ones."""
    first = int(time.time() + LEAD + JOBS / 100)
    jobs = cluster.create_jobs(JOBS, every=2, first=first)
    slow_jobs = cluster.create_jobs(slow, every=5, first=first, sleep=2.5, prefix="slow")
    cluster.start()
    return first, jobs + slow_jobs, set(slow_jobs.first)


def shares(cluster: Cluster, report: Report, daemons: list[int]) -> None:
    for i in daemons:
        share = report.per_daemon[cluster.pid(i)] / report.runs
        assert share > 0.1, f"daemon {i} ran {share:.0%} of the runs: {report.per_daemon}"


def test_each_occurrence_runs_once_and_work_spreads(cluster: Cluster) -> None:
    first, jobs, _ = start(cluster)
    sleep_until(first + 30)
    cluster.stop()
    report = cluster.verify(jobs)
    # Late occurrences coalesce (the misfire policy) when the machine cannot keep up with 150
    # runs a second; verify() checked that no other occurrence was lost.
    assert report.runs >= JOBS * 3  # progress: far more than one run per job
    shares(cluster, report, [0, 1, 2])


def running_slow_run(cluster: Cluster, slow: set[int]) -> tuple[int, Row] | None:
    """A daemon (its index) and a run of a slow job it has had in progress for a moment, and
    that has a second or more left: started (its scheduled time, never after the real start)
    under 1.5 s ago, of the 2.5 s the job takes. An older one may have ended already, its
    outcome not yet written."""
    now = time.time()
    daemons = {pk: pid for pid, pk in cluster.daemon_ids().items()}
    pids = [cluster.pid(i) for i in range(cluster.size)]
    for row in cluster.rows():
        if (
            row.status == "running"
            and row.job in slow
            and row.started
            and 0.3 < now - row.started.timestamp() < 1.5
            and daemons.get(row.daemon) in pids
        ):
            return pids.index(daemons[row.daemon]), row
    return None


def test_a_killed_daemon_costs_its_runs_in_progress_only(cluster: Cluster) -> None:
    first, jobs, slow = start(cluster, slow=6)
    sleep_until(first + 4)
    v, victim = wait_for(
        lambda: running_slow_run(cluster, slow), timeout=15, what="a slow run in progress"
    )
    others = [i for i in range(cluster.size) if i != v]
    cluster.signal(v, signal.SIGKILL)
    killed = time.time()
    cluster.procs[v].wait(10)
    # The others find the run dead once its lease ran out, not before.
    row = wait_for(
        lambda: next(
            (r for r in cluster.rows() if r.id == victim.id and r.status != "running"), None
        ),
        timeout=20,
        what="the killed daemon's run to be declared dead",
    )
    assert row.status == "interrupted" and "heartbeat" in row.error
    assert row.finished > row.lease_until

    # The others carry on: they start runs of every job after the kill.
    def carried_on() -> bool:
        rows = cluster.rows()
        return {r.job for r in rows if r.started and r.started.timestamp() > killed + 4} == set(
            jobs.first
        )

    wait_for(carried_on, timeout=30, what="runs of every job after the kill", every=0.5)
    cluster.stop()
    report = cluster.verify(jobs)
    dead = [r for r in report.rows if r.daemon == cluster.daemon_ids()[cluster.pid(v)]]
    late = [r for r in dead if r.started and r.started.timestamp() > killed + 1]
    assert not late, f"runs claimed by the killed daemon after its death: {late}"
    for r in dead:
        if r.status == "interrupted":
            assert r.finished > r.lease_until, r
    shares(cluster, report, others)


def test_a_stopped_daemon_is_fenced_and_carries_on(cluster: Cluster) -> None:
    first, jobs, slow = start(cluster, slow=6)
    sleep_until(first + 4)
    v, victim = wait_for(
        lambda: running_slow_run(cluster, slow), timeout=15, what="a slow run in progress"
    )
    cluster.signal(v, signal.SIGSTOP)
    # Past its lease the others declare its runs dead and go on with the jobs.
    wait_for(
        lambda: any(r.id == victim.id and r.status == "interrupted" for r in cluster.rows()),
        timeout=20,
        what="the stopped daemon's run to be declared dead",
    )
    cluster.signal(v, signal.SIGCONT)
    resumed = time.time()
    # The others, on this host, killed the run's processes before they declared it dead; the
    # stopped daemon's late outcome, once it resumes, matches no row.
    wait_for(
        lambda: "was taken from this daemon" in cluster.output(v),
        timeout=15,
        what="the stopped daemon's late outcome to be fenced",
    )
    # ... and it carries on claiming.
    wait_for(
        lambda: any(
            r.started and r.started.timestamp() > resumed + 1
            for r in cluster.runs_of(cluster.pid(v))
        ),
        timeout=15,
        what="the resumed daemon to claim again",
    )
    sleep_until(resumed + 5)
    cluster.stop()
    report = cluster.verify(jobs)
    row = next(r for r in report.rows if r.id == victim.id)
    assert row.status == "interrupted"  # not overwritten by the late outcome
    occurrence = (row.job, int(row.scheduled.timestamp()))
    # Started once at most (it may have been waiting for its go-ahead), never again.
    assert [(line.job, line.scheduled) for line in report.lines].count(occurrence) <= 1
    shares(cluster, report, list(range(cluster.size)))
