"""The daemon among others and through database trouble: late outcomes kept, runs taken by
another daemon not started, no one declared dead right after an outage, and job code that knows
its occurrence. (Real daemons on real servers: tests/multidb.)"""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.db import OperationalError

from akjob.daemon import claim as claims
from akjob.daemon.execute import InlineExecutor, run_code
from akjob.daemon.loop import Daemon
from akjob.models import DaemonRecord, Job, JobRun
from tests.daemon import jobcode
from tests.daemon.steps import T0, make

pytestmark = pytest.mark.django_db
Status = JobRun.Status


@pytest.fixture
def daemon(clock):
    return Daemon(clock=clock, executor=InlineExecutor(), max_workers=2)


def test_job_code_knows_its_run(daemon, clock):
    job = make(jobcode.WhoAmI(), run_every=timedelta(seconds=10))
    clock.set(T0 + timedelta(seconds=10))
    daemon.run_once(clock.now())
    run = JobRun.objects.get(job=job)
    seen = Job.objects.get(pk=job.pk).job_code_object.seen
    assert (seen.run_id, seen.job_id, seen.scheduled) == (run.pk, job.pk, run.scheduled)


def test_a_run_whose_lease_ran_out_is_not_started():
    job = make(run_every=timedelta(seconds=10))
    status, error = run_code(job, start_by=time.time() - 1)
    assert status == Status.INTERRUPTED and "lease ran out" in error
    assert Job.objects.get(pk=job.pk).job_code_object.count == 0


def test_outcomes_are_kept_through_a_database_error(daemon, clock, monkeypatch):
    job = make(run_every=timedelta(seconds=10))
    clock.set(T0 + timedelta(seconds=10))
    real = claims.finish_batch

    def down(*args, **kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(claims, "finish_batch", down)
    with pytest.raises(OperationalError):
        daemon.run_once(clock.now())
    assert len(daemon.unrecorded) == 1
    assert JobRun.objects.get(job=job).status == Status.RUNNING
    monkeypatch.setattr(claims, "finish_batch", real)
    clock.advance(1)
    daemon.run_once(clock.now())
    assert daemon.unrecorded == []
    assert JobRun.objects.get(job=job).status == Status.SUCCEEDED
    assert Job.objects.get(pk=job.pk)._run_count == 1


def test_queued_runs_taken_meanwhile_are_not_started(daemon, clock):
    job = make(run_every=timedelta(seconds=10))
    daemon.run_once(clock.now())  # registers
    clock.set(T0 + timedelta(seconds=10))
    claimed = claims.claim(
        Job.objects.get(pk=job.pk), now=clock.now(), daemon=daemon.record, lease=60, pid=1
    )
    daemon.queue.append(claimed)  # claimed, waiting for a worker ...
    claims.interrupt([claimed.run_id], reason="its akjobd stopped heartbeating", now=clock.now())
    clock.advance(daemon.heartbeat_every)  # ... when the daemon wakes from a pause
    daemon.run_once(clock.now())
    assert not daemon.queue
    # The taken occurrence stays interrupted and never runs; the next one runs as usual.
    runs = [(r.scheduled, r.status) for r in JobRun.objects.filter(job=job).order_by("scheduled")]
    assert runs == [
        (T0 + timedelta(seconds=10), Status.INTERRUPTED),
        (T0 + timedelta(seconds=20), Status.SUCCEEDED),
    ]
    assert Job.objects.get(pk=job.pk).job_code_object.count == 1


def test_no_one_is_declared_dead_right_after_an_outage(daemon, clock):
    job = make(dates_list=[T0 + timedelta(seconds=10)])
    other = DaemonRecord.objects.create(host="elsewhere", pid=1, started=T0, heartbeat=T0)
    clock.set(T0 + timedelta(seconds=10))
    claimed = claims.claim(
        Job.objects.get(pk=job.pk), now=clock.now(), daemon=other, lease=60, pid=1
    )
    daemon.run_once(clock.now())
    clock.set(T0 + timedelta(seconds=120))  # the lease ran out while the database was down
    daemon._recovered_at = clock.monotonic()  # as run() notes when it is reachable again
    daemon.run_once(clock.now())
    clock.advance(daemon.heartbeat_every)
    daemon.run_once(clock.now())
    assert JobRun.objects.get(pk=claimed.run_id).status == Status.RUNNING
    clock.advance(daemon.heartbeat_every)  # the others had time to come back: that one did not
    daemon.run_once(clock.now())
    assert JobRun.objects.get(pk=claimed.run_id).status == Status.INTERRUPTED


def test_the_daemon_gives_up_lock_waits_after_a_heartbeat():
    from django.db import connection

    from akjob.daemon import sql

    queries = {
        "postgresql": ("SHOW lock_timeout", "RESET lock_timeout"),
        "mysql": (
            "SELECT @@SESSION.innodb_lock_wait_timeout",
            "SET SESSION innodb_lock_wait_timeout = DEFAULT",
        ),
    }
    if connection.vendor not in queries:
        pytest.skip("SQLite has one writer: no row locks to wait on")
    show, reset = queries[connection.vendor]
    sql.limit_lock_waits(connection, 1.5)
    try:
        with connection.cursor() as cursor:
            cursor.execute(show)
            (value,) = cursor.fetchone()
        assert str(value) in {"1500ms", "2"}  # InnoDB counts whole seconds
    finally:
        with connection.cursor() as cursor:
            cursor.execute(reset)
