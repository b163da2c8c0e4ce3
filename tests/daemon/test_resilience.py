"""The daemon among others and through database trouble: late outcomes kept, runs taken by
another daemon not started, no one declared dead right after an outage, and job code that knows
its occurrence. (Real daemons on real servers: tests/multidb.)"""

from __future__ import annotations

import signal
import time
from datetime import timedelta

import pytest
from django.db import OperationalError

from akjob.daemon import dispatcher as claims
from akjob.daemon.loop import Daemon
from akjob.daemon.runner import run_code
from akjob.daemon.supervisor import InlineSupervisor
from akjob.models import Job, JobRun
from tests.daemon import jobcode
from tests.daemon.steps import T0, claimed_elsewhere, held_run, make

pytestmark = pytest.mark.django_db
Status = JobRun.Status


@pytest.fixture
def daemon(clock):
    return Daemon(clock=clock, supervisor=InlineSupervisor(size=2), max_workers=2)


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


def test_a_run_taken_meanwhile_is_killed_and_its_outcome_dropped(clock, monkeypatch):
    from akjob.daemon import loop

    killed = []
    monkeypatch.setattr(loop, "kill_group", lambda pgid, sig: killed.append((pgid, sig)))
    daemon, supervisor, job, run = held_run(clock)
    run.pid = 4242  # as if in a process of its own
    # Paused past its lease, this daemon's run was declared dead by another one.
    claims.interrupt(
        [run.claimed.run_id], reason="its akjobd stopped heartbeating", now=clock.now()
    )
    clock.advance(daemon.heartbeat_every)
    daemon.run_once(clock.now())
    assert killed == [(4242, signal.SIGKILL)]  # it must not go on beside the next run
    supervisor.end(run, clock.now())
    daemon.run_once(clock.now())
    assert JobRun.objects.get(pk=run.claimed.run_id).status == Status.INTERRUPTED
    # The next occurrence runs as usual.
    assert [r.claimed.scheduled for r in daemon.children.values()] == [T0 + timedelta(seconds=20)]


def test_no_one_is_declared_dead_right_after_an_outage(daemon, clock):
    job = make(dates_list=[T0 + timedelta(seconds=10)])
    clock.set(T0 + timedelta(seconds=10))
    claimed = claimed_elsewhere(job, clock.now())
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

    from akjob.daemon import store as sql

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


@pytest.fixture
def row_holder():
    """Hold a job's row locked from another connection, as a peer stopped in the middle of a
    claim would; ``release()`` commits that transaction."""
    import threading

    from django.db import connection, transaction

    if connection.vendor == "sqlite":
        pytest.skip("SQLite has one writer: no row locks to hold")
    held, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def hold(pk: int) -> None:
        try:
            with transaction.atomic():
                list(Job.objects.select_for_update().filter(pk=pk))
                held.set()
                release.wait(30)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)
            held.set()
        finally:
            connection.close()

    threads: list[threading.Thread] = []

    class Holder:
        def lock(self, pk: int) -> None:
            thread = threading.Thread(target=hold, args=(pk,))
            thread.start()
            threads.append(thread)
            assert held.wait(10) and not errors, errors

        def release(self) -> None:
            release.set()
            for thread in threads:
                thread.join(10)
            assert not errors, errors

    holder = Holder()
    yield holder
    holder.release()


@pytest.mark.django_db(transaction=True)
def test_a_dead_run_is_declared_even_while_its_job_row_is_held(daemon, clock, row_holder):
    job = make(run_every=timedelta(seconds=10))
    daemon.register(clock.now())
    clock.set(T0 + timedelta(seconds=10))
    claimed = claimed_elsewhere(job, clock.now())
    row_holder.lock(job.pk)  # the silent daemon stopped inside a transaction on that row
    clock.set(T0 + timedelta(seconds=100))
    daemon.run_once(clock.now())
    run = JobRun.objects.get(pk=claimed.run_id)
    assert run.status == Status.INTERRUPTED and "heartbeat" in run.error
    assert not Job.objects.get(pk=job.pk)._job_running  # the record says so: nothing to free
    row_holder.release()


def test_the_server_ends_a_transaction_left_idle_for_a_lease():
    from django.db import connection

    from akjob.daemon import store as sql

    queries = {
        "postgresql": (
            "SHOW idle_in_transaction_session_timeout",
            "RESET idle_in_transaction_session_timeout",
        ),
        "mysql": (
            "SELECT @@SESSION.idle_transaction_timeout",
            "SET SESSION idle_transaction_timeout = DEFAULT",
        ),
    }
    if connection.vendor not in queries or (
        connection.vendor == "mysql" and not connection.mysql_is_mariadb
    ):
        pytest.skip("only PostgreSQL and MariaDB end idle transactions")
    show, reset = queries[connection.vendor]
    sql.limit_lock_waits(connection, 1.5, idle=60)
    try:
        with connection.cursor() as cursor:
            cursor.execute(show)
            (value,) = cursor.fetchone()
        assert str(value) in {"1min", "60"}
    finally:
        with connection.cursor() as cursor:
            cursor.execute(reset)
