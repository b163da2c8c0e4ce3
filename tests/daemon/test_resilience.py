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
from tests.daemon.steps import T0, claimed_elsewhere, make

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
    job = make(dates_list=[T0 + timedelta(seconds=10)])
    daemon.register(clock.now())
    clock.set(T0 + timedelta(seconds=10))
    claimed = claimed_elsewhere(job, clock.now())
    row_holder.lock(job.pk)  # the silent daemon stopped inside a transaction on that row
    clock.set(T0 + timedelta(seconds=100))
    daemon.run_once(clock.now())
    run = JobRun.objects.get(pk=claimed.run_id)
    assert run.status == Status.INTERRUPTED and "heartbeat" in run.error
    assert Job.objects.get(pk=job.pk)._job_running is True  # its row is still held
    assert daemon.unfreed == {job.pk}
    row_holder.release()
    clock.advance(daemon.heartbeat_every)
    daemon.run_once(clock.now())
    assert Job.objects.get(pk=job.pk)._job_running is False
    assert daemon.unfreed == set()


@pytest.mark.django_db(transaction=True)
def test_free_jobs_leaves_a_job_whose_run_is_in_progress(clock):
    job = make(run_every=timedelta(seconds=10))
    clock.set(T0 + timedelta(seconds=10))
    a = DaemonRecord.objects.create(host="a", pid=1, started=T0, heartbeat=T0)
    claims.claim(Job.objects.get(pk=job.pk), now=clock.now(), daemon=a, lease=60, pid=1)
    assert claims.orphaned_jobs() == set()
    assert claims.free_jobs({job.pk}) == {job.pk}  # settled: nothing to free
    assert Job.objects.get(pk=job.pk)._job_running is True


def test_a_starting_daemon_frees_jobs_left_marked_running(daemon, clock, monkeypatch):
    monkeypatch.setattr(claims, "CHUNK", 2)  # a few at a time, as with very many
    jobs = [make(run_every=timedelta(seconds=10)) for _ in range(5)]
    ids = {job.pk for job in jobs}
    Job.objects.filter(pk__in=ids).update(_job_running=True)  # e.g. restored from a backup
    assert claims.orphaned_jobs() == ids
    daemon.run_once(clock.now())  # registering frees them
    assert not Job.objects.filter(pk__in=ids, _job_running=True).exists()
    assert daemon.unfreed == set()


def test_the_server_ends_a_transaction_left_idle_for_a_lease():
    from django.db import connection

    from akjob.daemon import sql

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


@pytest.mark.django_db(transaction=True)
def test_a_connection_broken_between_runs_is_replaced_before_the_next():
    from django.db import connection, connections

    from akjob.daemon.execute import fresh_connections

    queries = {
        "postgresql": ("SELECT pg_backend_pid()", "SELECT pg_terminate_backend(%s)"),
        "mysql": ("SELECT CONNECTION_ID()", "KILL %s"),
    }
    if connection.vendor not in queries:
        pytest.skip("an SQLite connection does not break")
    whoami, kill = queries[connection.vendor]
    with connection.cursor() as cursor:  # a worker's connection, kept from its last run
        cursor.execute(whoami)
        (backend,) = cursor.fetchone()
    connection.close_at = None  # kept for good, as with CONN_MAX_AGE = None
    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:  # the server ends it (a restart, an admin)
            cursor.execute(kill, [backend])
    finally:
        other.close()
    fresh_connections()
    with connection.cursor() as cursor:  # the job's first query
        cursor.execute(whoami)
        assert cursor.fetchone()[0] != backend
