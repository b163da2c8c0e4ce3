"""The claim's batched statements (:mod:`akjob.daemon.claimsql`) on the database the suite runs
on: each way of moving a batch of jobs that works there, the run records, and daemons claiming
the same batch, one after the other and at the same time."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import DataError, IntegrityError, connection, transaction

from akjob.daemon import claimsql, store
from akjob.daemon import dispatcher as claims
from akjob.daemon.loop import Daemon
from akjob.models import DaemonRecord, Job, JobRun
from tests.daemon.steps import T0, Holding, make

pytestmark = pytest.mark.django_db
Status = JobRun.Status
TEN = timedelta(seconds=10)


def works_here(how: str) -> bool:
    if how == claimsql.RETURNING:
        return connection.vendor == "postgresql" or (
            connection.vendor == "sqlite" and connection.Database.sqlite_version_info >= (3, 35)
        )
    if how == claimsql.LOCKING:
        return connection.vendor == "mysql"
    return True


@pytest.fixture(params=[claimsql.RETURNING, claimsql.EXECUTEMANY, claimsql.LOCKING])
def how(request):
    if not works_here(request.param):
        pytest.skip(f"{request.param} does not work on {connection.vendor}")
    return request.param


def many_jobs(count: int) -> list[Job]:
    """``count`` jobs every 10 s, due at T0 + 10 s, as loaded by a daemon."""
    Job.objects.bulk_create(
        Job(name=f"job {i}", run_every=TEN, _next_run=T0 + TEN, _last_interval=T0)
        for i in range(count)
    )
    return list(Job.objects.order_by("pk"))


def test_a_batch_moves_the_rows_still_at_their_occurrence(how):
    run, stale, miss, last = many_jobs(4)
    Job.objects.filter(pk=stale.pk).update(_next_run=T0 + 2 * TEN)  # an edit behind our back
    moves = [
        (run.pk, run._next_run, T0 + 2 * TEN, T0 + TEN, T0 + TEN),
        (stale.pk, stale._next_run, T0 + 2 * TEN, T0 + TEN, T0 + TEN),
        (miss.pk, miss._next_run, T0 + 2 * TEN, None, None),  # recorded missed: no run counted
        (last.pk, last._next_run, None, T0 + TEN, None),  # its last run: nothing after it
    ]
    with transaction.atomic():
        assert claimsql.cas_jobs(moves, how=how) == {run.pk, miss.pk, last.pk}
    rows = {
        job.pk: (job._next_run, job._run_count, job._last_run, job._last_interval)
        for job in Job.objects.all()
    }
    assert rows == {
        run.pk: (T0 + 2 * TEN, 1, T0 + TEN, T0 + TEN),
        stale.pk: (T0 + 2 * TEN, 0, None, T0),
        miss.pk: (T0 + 2 * TEN, 0, None, T0),
        last.pk: (None, 1, T0 + TEN, T0),
    }


def test_a_batch_larger_than_a_statement_moves_every_row(how):
    jobs = many_jobs(250)  # several chunks on every database
    stale = jobs[::7]
    Job.objects.filter(pk__in=[job.pk for job in stale]).update(_next_run=T0 + 3 * TEN)
    moves = [(job.pk, job._next_run, T0 + 2 * TEN, T0 + TEN, T0 + TEN) for job in jobs]
    with transaction.atomic():
        won = claimsql.cas_jobs(moves, how=how)
    assert won == {job.pk for job in jobs} - {job.pk for job in stale}
    assert Job.objects.filter(_run_count=1).count() == len(won)
    assert set(Job.objects.filter(_next_run=T0 + 2 * TEN).values_list("pk", flat=True)) == won


def test_run_records_get_their_ids_and_the_defaults_of_what_they_leave_out():
    jobs = many_jobs(150)  # several statements on SQLite
    daemon = DaemonRecord.objects.create(host="a", pid=1, started=T0, heartbeat=T0)
    records = [
        {"job_id": job.pk, "job_name": job.name, "scheduled": T0 + TEN, "daemon_id": daemon.pk}
        | {"status": Status.RUNNING, "started": T0 + TEN, "running_for": job.pk, "pid": 7}
        for job in jobs
    ]
    with transaction.atomic():
        claimsql.insert_claims(records)
    assert all(record["id"] is not None for record in records)
    saved = {run.pk: run for run in JobRun.objects.all()}
    assert set(saved) == {record["id"] for record in records}
    first = saved[records[0]["id"]]
    assert (first.job_id, first.status, first.scheduled, first.started) == (
        jobs[0].pk,
        "running",
        T0 + TEN,
        T0 + TEN,
    )
    assert (first.error, first.missed_count, first.task_status, first.finished) == ("", 0, "", None)
    assert (first.pid, first.running_for, first.daemon_id) == (7, jobs[0].pk, daemon.pk)
    again = [{k: v for k, v in records[0].items() if k not in ("id", "running_for")}]
    with pytest.raises(IntegrityError), transaction.atomic():
        claimsql.insert_claims(again)  # the same occurrence of the same job


def test_a_value_too_long_for_its_column_is_refused_not_cut():
    if connection.vendor == "sqlite":
        pytest.skip("SQLite keeps text of any length")
    jobs = many_jobs(3)
    records = [
        {"job_id": job.pk, "scheduled": T0 + TEN, "status": Status.MISSED, "host": "h" * 300}
        for job in jobs
    ]
    with pytest.raises(DataError), transaction.atomic():
        claimsql.insert_claims(records)
    assert not JobRun.objects.exists()


def test_the_compare_and_set_of_one_job_compares_no_next_run_too():
    """A job with no next run (a one-off job after its run) is moved from NULL, and only a row
    that has none; a row that has one is not moved by a guard of NULL, nor the other way."""
    empty, timed = many_jobs(2)
    Job.objects.filter(pk=empty.pk).update(_next_run=None)
    later = T0 + 3 * TEN
    assert not store.cas_move((timed.pk, None, later, None, None))  # it has a next run
    assert not store.cas_move((empty.pk, T0 + TEN, later, None, None))  # it has none
    assert store.cas_move((empty.pk, None, later, None, None))
    assert not store.cas_move((empty.pk, None, later + TEN, None, None))  # moved already
    rows = dict(Job.objects.values_list("pk", "_next_run"))
    assert rows == {empty.pk: later, timed.pk: T0 + TEN}


@pytest.mark.parametrize("use_tz", [True, False])
def test_datetimes_go_to_the_driver_as_the_orm_sends_them(use_tz, settings):
    """A batch adapts each datetime once, by the connection's ways looked up once: the values
    sent are the ORM's own, in any zone, to the microsecond."""
    from datetime import UTC, datetime
    from datetime import timezone as fixed
    from zoneinfo import ZoneInfo

    settings.USE_TZ = use_tz
    field = Job._meta.get_field("_next_run")
    values = [
        datetime(2027, 3, 28, 0, 59, 59, 999999, tzinfo=UTC),
        datetime(2027, 3, 28, 2, 30, tzinfo=ZoneInfo("Europe/Berlin")),
        datetime(2027, 10, 3, 2, 42, 5, 1, tzinfo=ZoneInfo("Australia/Lord_Howe")),
        datetime(2027, 1, 1, 23, 0, tzinfo=fixed(timedelta(hours=-7))),
    ]
    if not use_tz:
        values = [value.astimezone(UTC).replace(tzinfo=None) for value in values]
    batch = store.Adapted()
    for value in values:
        orm = field.get_db_prep_value(store.to_db(value) if use_tz else value, connection)
        assert store.db_datetime(value, batch) == orm, value
        assert store.db_datetime(value) == orm, value
    assert len(batch) == len(values)


def daemons(count: int) -> list[DaemonRecord]:
    return [
        DaemonRecord.objects.create(host=f"host {i}", pid=i + 1, started=T0, heartbeat=T0)
        for i in range(count)
    ]


def assert_one_run_per_job(jobs: list[Job]) -> None:
    """Each job ran once: one run record, counted once, its next run moved once."""
    runs = list(JobRun.objects.values_list("job_id", "scheduled"))
    assert sorted(runs) == sorted((job.pk, T0 + TEN) for job in jobs)
    for job in Job.objects.filter(pk__in=[job.pk for job in jobs]):
        assert (job._run_count, job._next_run) == (1, T0 + 2 * TEN)


def test_a_batch_claimed_by_another_daemon_since_it_was_read_wins_nothing(clock):
    jobs = [make(run_every=TEN) for _ in range(6)]
    clock.set(T0 + TEN)
    a, b = daemons(2)
    seen_by_a = list(Job.objects.order_by("pk"))
    seen_by_b = list(Job.objects.order_by("pk"))
    first = claims.claim_batch(seen_by_a, now=clock.now(), daemon=a, lease=60, pids=[1, 1, 1])
    assert len(first) == 3  # as many as it had processes for
    second = claims.claim_batch(seen_by_b, now=clock.now(), daemon=b, lease=60, pids=[2] * 6)
    assert sorted(c.job_id for c in first + second) == sorted(job.pk for job in jobs)
    assert {c.job_id for c in first}.isdisjoint(c.job_id for c in second)
    assert_one_run_per_job(jobs)


def test_daemons_sharing_one_batch_share_its_jobs_without_doing_any_twice(clock):
    jobs = many_jobs(20)
    clock.set(T0 + TEN)
    a, b = daemons(2)
    batches = {a.pk: list(Job.objects.order_by("pk")), b.pk: list(Job.objects.order_by("pk"))}
    with transaction.atomic():  # the second daemon's rows move under the first one's feet
        moved = claimsql.cas_jobs(
            [(job.pk, job._next_run, T0 + 2 * TEN, T0 + TEN, T0 + TEN) for job in jobs[::2]]
        )
    assert len(moved) == 10
    won = claims.claim_batch(batches[b.pk], now=clock.now(), daemon=b, lease=60, pids=[2] * 20)
    assert sorted(c.job_id for c in won) == sorted(job.pk for job in jobs[1::2])


# -- at the same time, on the database servers -------------------------------------------------


def at_once(count: int, work) -> list:
    """Run ``work(i)`` in ``count`` threads (each with its own connection), started together."""
    barrier = threading.Barrier(count)
    results: list = [None] * count
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            barrier.wait(10)
            results[i] = work(i)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    return results


@pytest.fixture
def servers_only():
    if connection.vendor == "sqlite":
        pytest.skip("SQLite has one writer: claims never overlap")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("skip_locked", [True, False])
def test_daemons_dispatching_at_once_run_each_occurrence_once(
    servers_only, clock, monkeypatch, skip_locked
):
    """Two daemons wake up on the same due jobs at the same moment. With SKIP LOCKED they take
    different rows; without it (MariaDB before 10.6), they race for the same rows and the
    compare-and-set lets one win each."""
    if not skip_locked:
        monkeypatch.setattr(store, "can_skip_locked", lambda: False)
    jobs = many_jobs(40)
    clock.set(T0 + TEN)
    records = daemons(2)

    def dispatch(i: int) -> int:
        daemon = Daemon(clock=clock, supervisor=Holding(size=40), max_workers=40)
        daemon.record = records[i]
        return daemon.dispatch(clock.now())

    started = at_once(2, dispatch)
    assert sum(started) == 40
    assert_one_run_per_job(jobs)


@pytest.mark.django_db(transaction=True)
def test_batches_read_before_either_claims_are_claimed_once(servers_only, clock, monkeypatch):
    """Both daemons read the same due jobs, then claim them together: the claims queue on the
    rows and the compare-and-set gives each occurrence to one of them."""
    monkeypatch.setattr(store, "can_skip_locked", lambda: False)
    jobs = many_jobs(40)
    clock.set(T0 + TEN)
    records = daemons(2)
    seen = [list(Job.objects.order_by("pk")) for _ in records]

    def claim(i: int) -> list[int]:
        won = claims.claim_batch(
            seen[i], now=clock.now(), daemon=records[i], lease=60, pids=[i + 1] * 40
        )
        return [c.job_id for c in won]

    first, second = at_once(2, claim)
    assert sorted(first + second) == sorted(job.pk for job in jobs)
    assert_one_run_per_job(jobs)
