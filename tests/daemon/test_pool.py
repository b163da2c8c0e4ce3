"""The worker pool and its shared queue, with real worker processes.

The jobs here are never saved and their code touches no database, so the workers need none; time
is real (a frozen clock would be frozen in the workers too).
"""

from __future__ import annotations

import os
import select
import signal
import socket
import time
from datetime import UTC, datetime, timedelta

import pytest

from akjob.daemon.claim import Claimed
from akjob.daemon.execute import BURST, Child, PoolExecutor, Worker, outcome, rehearse
from akjob.models import Job
from tests.daemon import jobcode


@pytest.fixture
def pool(django_db_blocker):
    # Workers are forks of this process: they check its database connections between runs (as
    # a worker does), which the test database guard would refuse. Their jobs query nothing.
    with django_db_blocker.unblock():
        executor = PoolExecutor(max_runs=100, size=1)
        yield executor
        for pid in list(executor.workers):
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        executor.shutdown()


def claimed(run_id: int, code, *, lease: timedelta | None = timedelta(minutes=1)) -> Claimed:
    job = Job(name=f"run {run_id}")
    job.job_code_object = code
    job.__dict__.pop("_code_object")  # as read from the database: the worker verifies it
    now = datetime.now(UTC)
    until = now + lease if lease is not None else None
    return Claimed(run_id, 0, now, None, job=job, lease_until=until)


def until_done(pool: PoolExecutor, children: list[Child], timeout: float = 30) -> None:
    """Read what the workers say until every child is over (or fail at the deadline)."""
    deadline = time.monotonic() + timeout
    while not all(pool.poll(child) for child in children):
        left = deadline - time.monotonic()
        assert left > 0, "the runs did not finish in time"
        select.select(pool.fds(), [], [], min(left, 0.5))
        pool.collect(time.monotonic())


def until_taken(pool: PoolExecutor, child: Child, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not child.pid:
        left = deadline - time.monotonic()
        assert left > 0, "no worker took the run"
        select.select(pool.fds(), [], [], min(left, 0.5))
        pool.collect(time.monotonic())


def test_a_burst_handed_over_at_once_is_run_by_the_pool(pool, tmp_path):
    pool.size = 2
    children = [pool.start(claimed(i, jobcode.Mark(str(tmp_path))), monotonic=0) for i in (1, 2, 3)]
    children += [pool.start(claimed(i, jobcode.Mark(str(tmp_path))), monotonic=0) for i in (4, 5)]
    until_done(pool, children)
    assert [outcome(child) for child in children] == [("succeeded", "")] * 5
    assert sorted(os.listdir(tmp_path)) == ["1", "2", "3", "4", "5"]
    for child in children:  # each outcome is the run's own: it came from the worker that ran it
        assert int((tmp_path / str(child.claimed.run_id)).read_text()) == child.pid
    assert len({child.pid for child in children}) <= 2  # never more workers than the pool's size
    assert not pool.pending


def test_runs_no_worker_took_are_taken_back_in_order_and_never_run(pool, tmp_path):
    gate = tmp_path / "gate"
    marks = tmp_path / "marks"
    marks.mkdir()
    busy = pool.start(claimed(1, jobcode.WaitFor(str(gate))), monotonic=0)
    queued = [pool.start(claimed(i, jobcode.Mark(str(marks))), monotonic=0) for i in (2, 3, 4)]
    until_taken(pool, busy)
    back = pool.take_back()
    assert [c.run_id for c in back] == [2, 3, 4]
    assert not pool.pending
    gate.touch()
    until_done(pool, [busy])
    assert outcome(busy) == ("succeeded", "")
    assert not any(pool.poll(child) for child in queued)
    assert os.listdir(marks) == []


def test_a_queued_run_starts_past_its_first_lease_while_the_daemon_renews(pool, tmp_path):
    expired = claimed(1, jobcode.Mark(str(tmp_path)), lease=timedelta(seconds=-1))
    late = pool.start(expired, monotonic=0)
    pool.renewed(datetime.now(UTC) + timedelta(minutes=1))
    until_done(pool, [late])
    assert outcome(late) == ("succeeded", "")
    assert os.listdir(tmp_path) == ["1"]


def test_a_queued_run_does_not_start_once_the_daemon_stopped_renewing(pool, tmp_path):
    pool.renewed(datetime.now(UTC) - timedelta(seconds=1))
    expired = claimed(1, jobcode.Mark(str(tmp_path)), lease=timedelta(seconds=-2))
    late = pool.start(expired, monotonic=0)
    until_done(pool, [late])
    status, error = outcome(late)
    assert status == "interrupted"
    assert "lease ran out before it could start" in error
    assert os.listdir(tmp_path) == []


def test_a_run_taken_by_a_worker_that_died_before_saying_so_is_found_lost(pool, tmp_path):
    pool.warm(1)
    (worker,) = pool.workers
    os.kill(worker, signal.SIGSTOP)  # it takes nothing from now on
    first = pool.start(claimed(1, jobcode.Mark(str(tmp_path))), monotonic=0)
    second = pool.start(claimed(2, jobcode.Mark(str(tmp_path))), monotonic=0)
    pool._tasks.recv(65536)  # the worker's part: it took the first run...
    os.kill(worker, signal.SIGKILL)  # ...and was killed before it said so
    deadline = time.monotonic() + 30
    while worker in pool.workers:
        assert time.monotonic() < deadline, "the worker's end was not noticed"
        select.select(pool.fds(), [], [], 0.5)
        pool.collect(time.monotonic())
    assert pool.suspect == {1, 2}
    assert [c.run_id for c in pool.take_back()] == [2]
    assert pool.lost(time.monotonic()) == [first]
    assert not pool.suspect and not pool.pending
    assert not second.pid and os.listdir(tmp_path) == []


def test_tasks_the_queue_has_no_room_for_wait_in_order(pool):
    pool.size = 0  # no worker: everything stays queued
    queue = pool._open()[0]
    queue.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    runs = [claimed(i, jobcode.Counter()) for i in range(1, 41)]
    for run in runs:
        pool.start(run, monotonic=0)
    assert pool.overflow, "the small queue should have overflowed"
    assert [c.run_id for c in pool.take_back()] == list(range(1, 41))
    assert not pool.overflow and not pool.pending


@pytest.mark.django_db
def test_a_worker_rehearses_without_the_database(django_assert_num_queries):
    with django_assert_num_queries(0):
        rehearse(2)


def test_a_burst_is_runs_waiting_or_just_due():
    pool = PoolExecutor(size=1)  # no worker is started: the state is set by hand
    now = 100.0
    assert not pool.waiting(now)
    pool.pending[1] = Child(claimed(1, jobcode.Counter()), 0, None, earliest=now + 0.3)
    assert not pool.waiting(now)  # queued ahead of its time: nothing waits yet
    assert pool.waiting(now + 0.3)  # due, and no worker took it
    del pool.pending[1]
    worker = Worker(pid=0, result_fd=-1)
    pool.workers[0] = worker
    worker.busy = Child(claimed(2, jobcode.Counter()), 0, None, earliest=now)
    assert pool.waiting(now + BURST / 2)  # its worker may not have started it yet
    assert not pool.waiting(now + BURST * 2)  # long started: no burst any more


def test_a_job_too_big_for_one_task_is_sent_by_id(pool):
    import pickle

    from akjob.daemon.execute import TASK_MAX

    pool.size = 0  # no worker: the task is read here
    run = claimed(7, jobcode.Bulky(TASK_MAX))
    run = Claimed(7, 42, run.scheduled, None, job=run.job, lease_until=run.lease_until)
    pool.start(run, monotonic=0)
    message = pool._tasks.recv(TASK_MAX)
    assert int.from_bytes(message[:8], "big") == 7
    job, at, start_by = pickle.loads(message[8:])
    assert job == 42  # the worker loads the job itself
    assert at == run.scheduled.timestamp() and start_by == run.lease_until.timestamp()
