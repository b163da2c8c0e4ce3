"""The supervisor with real run processes: one process per run, in a group of its own, its end
seen from its exit, and nothing it leaves behind outliving it.

The jobs here are never saved and their code touches no database, so the run processes need
none; time is real (a frozen clock would be frozen in the run processes too).
"""

from __future__ import annotations

import os
import select
import signal
import time
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import pytest

from akjob.daemon import runner
from akjob.daemon.dispatcher import Claimed
from akjob.daemon.supervisor import AHEAD, FORKS_PER_WAKE, TASK_MAX, Run, Supervisor, outcome
from akjob.models import Job
from tests.acceptance.project import alive, wait_for
from tests.daemon import jobcode


@pytest.fixture
def supervisor(django_db_blocker):
    # Run processes are forks of this process; the test database guard would refuse their
    # (unused) connections. Their jobs query nothing.
    with django_db_blocker.unblock():
        sup = Supervisor(size=2)
        yield sup
        for proc in list(sup.procs.values()):
            os.killpg(proc.pid, signal.SIGKILL) if alive(proc.pid) else None
        sup.collect(datetime.now(UTC))
        sup.shutdown()


def claimed(run_id: int, code, *, timeout: float | None = None, job_id: int = 0) -> Claimed:
    job = Job(name=f"run {run_id}")
    job.job_code_object = code
    job.__dict__.pop("_code_object")  # as read from the database: the run process verifies it
    now = datetime.now(UTC)
    return Claimed(run_id, job_id, now, timeout, job=job, lease_until=now + timedelta(minutes=1))


def until_ended(sup: Supervisor, runs: list[Run], timeout: float = 30) -> None:
    """Wait on the pidfds until every run ended (or fail at the deadline)."""
    deadline = time.monotonic() + timeout
    waiting = {run.claimed.run_id for run in runs}
    while waiting:
        left = deadline - time.monotonic()
        assert left > 0, "the runs did not end in time"
        select.select(sup.fds(), [], [], min(left, 0.5))
        waiting -= {run.claimed.run_id for run in sup.collect(datetime.now(UTC))}


def start(sup: Supervisor, claim: Claimed) -> Run:
    (pid,) = sup.ready(1)
    run = sup.start(claim, pid, monotonic=time.monotonic())
    sup.release(time.monotonic())
    return run


def test_every_run_has_a_process_of_its_own_in_a_group_of_its_own(supervisor, tmp_path):
    runs = [start(supervisor, claimed(i, jobcode.Mark(str(tmp_path)))) for i in (1, 2)]
    until_ended(supervisor, runs)
    runs += [start(supervisor, claimed(i, jobcode.Mark(str(tmp_path)))) for i in (3, 4)]
    until_ended(supervisor, runs[2:])
    assert [outcome(run) for run in runs] == [("succeeded", "")] * 4
    pids = [int((tmp_path / str(run.claimed.run_id)).read_text()) for run in runs]
    assert pids == [run.pid for run in runs]  # each outcome from the process that ran it
    assert len(set(pids)) == 4  # no process ran two runs
    assert os.getpgid(os.getpid()) not in pids


def test_a_run_that_leaves_a_child_ends_with_its_process_and_the_child_is_killed(
    supervisor, tmp_path
):
    path = tmp_path / "child"
    run = start(supervisor, claimed(1, jobcode.LeaveChild(str(path))))
    until_ended(supervisor, [run], timeout=15)  # not held up by the child holding its pipe
    assert outcome(run) == ("succeeded", "")
    child = int(path.read_text())
    wait_for(lambda: not alive(child), timeout=5, what="the left-behind child to be killed")


def test_job_code_that_forks_and_returns_twice_runs_once(supervisor, tmp_path):
    path = tmp_path / "returned"
    run = start(supervisor, claimed(1, jobcode.ForkAndReturn(str(path))))
    until_ended(supervisor, [run])
    assert outcome(run) == ("succeeded", "")
    assert len(bytes(run.output).splitlines()) == 1  # one outcome: the run's own
    # Both processes returned from the job's code; the copy left at once, reporting nothing.
    first, second, last = path.read_text().splitlines()
    child = int(last.split()[1])
    assert {first, second} == {str(run.pid), str(child)}
    assert last == f"child {child} exited 0"
    assert child not in supervisor.procs


def test_a_timeout_kills_the_run_and_what_it_started(supervisor, tmp_path):
    path = tmp_path / "sleep"
    run = start(supervisor, claimed(1, jobcode.SpawnAndHang(str(path)), timeout=0.5))
    sleeper = int(wait_for(lambda: path.exists() and path.read_text(), timeout=15, what="sleep"))
    run.timed_out = True
    supervisor.terminate(run, monotonic=time.monotonic(), kill_after=5)
    until_ended(supervisor, [run])
    assert outcome(run)[0] == "timed out"
    wait_for(lambda: not alive(sleeper), timeout=5, what="the subprocess to be killed")


def test_a_job_too_big_for_one_task_is_sent_by_id(supervisor, monkeypatch):
    big = claimed(1, jobcode.Counter(), job_id=123_456)
    big.job._job_code = bytes(big.job._job_code) + b"\0" * TASK_MAX
    run = start(supervisor, big)
    until_ended(supervisor, [run])
    status, error = outcome(run)
    # Sent by id, the job is loaded from the database, where there is no job 123456.
    assert status == "failed" and ("could not be loaded" in error or "deleted" in error)


def test_spares_wait_ready_and_are_let_go_at_shutdown(supervisor):
    pids = supervisor.ready(2)
    assert len(pids) == 2 and supervisor.free() == 2
    for pid in pids:
        assert os.getpgid(pid) == pid
    supervisor.shutdown()
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists() or not alive(pid)


def test_runs_beyond_the_workers_wait_loaded_and_start_in_order(supervisor, tmp_path):
    supervisor.size = 1  # one run at a time; up to AHEAD handed over
    gate = tmp_path / "gate"
    first = start(supervisor, claimed(1, jobcode.WaitFor(str(gate))))
    later = [start(supervisor, claimed(i, jobcode.Mark(str(tmp_path)))) for i in (3, 2)]
    assert supervisor.free() == 0 and len(supervisor.spares()) == 0
    assert [p.go for p in supervisor.procs.values()] == [True, False, False]
    time.sleep(0.5)
    assert not (tmp_path / "2").exists() and not (tmp_path / "3").exists()  # still waiting
    gate.touch()
    until_ended(supervisor, [first])
    supervisor.release(time.monotonic())
    until_ended(supervisor, later[:1])  # run 3, handed over first (an earlier time), goes first
    assert (tmp_path / "3").exists() and not (tmp_path / "2").exists()
    supervisor.release(time.monotonic())
    until_ended(supervisor, later[1:])
    assert [outcome(run) for run in [first, *later]] == [("succeeded", "")] * 3


def test_runs_let_go_before_their_go_ahead_are_not_started(supervisor, tmp_path):
    supervisor.size = 1
    gate = tmp_path / "gate"
    first = start(supervisor, claimed(1, jobcode.WaitFor(str(gate))))
    waiting = start(supervisor, claimed(2, jobcode.Mark(str(tmp_path))))
    supervisor.let_go()  # the daemon stops
    until_ended(supervisor, [waiting])
    assert outcome(waiting) == (
        "interrupted",
        "not started: akjobd stopped before the run could start",
    )
    assert not (tmp_path / "2").exists()
    gate.touch()
    until_ended(supervisor, [first])


def test_a_run_that_reported_frees_its_worker_before_its_process_has_ended(
    supervisor, tmp_path, monkeypatch
):
    supervisor.size = 1
    gate = tmp_path / "gate"
    # The run processes are forks of this one: after reporting, they wait for the gate to exit.
    monkeypatch.setattr(runner, "_after_report", partial(jobcode.WaitFor(str(gate)).run, None))
    first = start(supervisor, claimed(1, jobcode.Mark(str(tmp_path))))
    second = start(supervisor, claimed(2, jobcode.Mark(str(tmp_path))))
    assert supervisor.free() == 0

    def second_started() -> bool:
        select.select(supervisor.fds(), [], [], 0.5)
        assert supervisor.collect(datetime.now(UTC)) == []  # nothing has ended yet
        supervisor.release(time.monotonic())
        return (tmp_path / "2").exists()

    wait_for(second_started, timeout=15, what="the second run's go-ahead")
    assert alive(first.pid) and first.pid in supervisor.procs  # reported, not ended
    gate.touch()
    until_ended(supervisor, [first, second])
    assert [outcome(run) for run in (first, second)] == [("succeeded", "")] * 2


def test_a_burst_is_claimed_a_few_forks_at_a_time(supervisor):
    assert supervisor.room() == 2 * AHEAD
    assert supervisor.claimable() == FORKS_PER_WAKE  # no spare yet: as many as may be forked
    supervisor.ready(2)
    assert supervisor.claimable() == min(2 + FORKS_PER_WAKE, 2 * AHEAD)
    supervisor.size = 1
    assert supervisor.claimable() == 1 * AHEAD  # never beyond the room
