"""Catch-up policies: the pure plan (counted, not walked) and the loop step with a clock moved
by hand. Real akjobd processes: tests/acceptance/test_policies.py."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import hypothesis
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from akjob import schedule as engine
from akjob.daemon.catchup import plan, since
from akjob.daemon.loop import Daemon
from akjob.daemon.supervisor import InlineSupervisor
from akjob.models import Job, JobRun
from tests.daemon import jobcode
from tests.daemon.steps import T0, make
from tests.schedule.helpers import calls_during

Status = JobRun.Status
SECOND = timedelta(seconds=1)
EVERY_10 = engine.Schedule((engine.IntervalSource(T0, timedelta(seconds=10)),))


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


# -- the plan ---------------------------------------------------------------------------------


@pytest.mark.parametrize("policy", ["once", "none", "all"])
def test_a_job_with_no_run_left_is_never_planned_to_run(policy) -> None:
    from dataclasses import replace

    used_up = replace(EVERY_10, remaining=0)
    with pytest.raises(ValueError, match="run count limit is used up"):
        plan(used_up, policy=policy, scheduled=at(10), now=at(55), grace=None, cap=100)
    one_left = replace(EVERY_10, remaining=1)
    got = plan(one_left, policy=policy, scheduled=at(10), now=at(12), grace=None, cap=100)
    assert (got.action, got.scheduled, got.next_run) == ("run", at(10), None)


@pytest.mark.parametrize(
    ("policy", "now", "grace", "cap", "expected"),
    [
        # On time: every policy runs it.
        ("once", 10, None, 100, ("run", 10, 20, 1)),
        ("none", 12, None, 100, ("run", 10, 20, 1)),
        ("all", 12, None, 100, ("run", 10, 20, 1)),
        # 10, 20, 30, 40, 50 due at 55.
        ("once", 55, None, 100, ("run", 10, 60, 5)),
        ("none", 55, None, 100, ("miss", 10, 60, 5)),
        ("all", 55, None, 100, ("run", 10, 20, 1)),
        # At most 2 of them: 10, 20, 30 recorded missed, 40 next (due: it runs next).
        ("all", 55, None, 2, ("miss", 10, 40, 3)),
        ("all", 55, None, 1, ("miss", 10, 50, 4)),
        ("all", 50, None, 1, ("miss", 10, 50, 4)),
        # misfire_grace 25 s at 55: 10 and 20 are too late, 30 on may run.
        ("once", 55, 25, 100, ("miss", 10, 60, 5)),
        ("none", 55, 25, 100, ("miss", 10, 60, 5)),
        ("all", 55, 25, 100, ("miss", 10, 30, 2)),
        ("all", 55, 25, 2, ("miss", 10, 40, 3)),
        # A grace that nothing meets: all missed, on to the next after now.
        ("all", 55, 4, 100, ("miss", 10, 60, 5)),
    ],
)
def test_plan(policy: str, now: int, grace: int | None, cap: int, expected: tuple) -> None:
    got = plan(
        EVERY_10,
        policy=policy,
        scheduled=at(10),
        now=at(now),
        grace=None if grace is None else timedelta(seconds=grace),
        cap=cap,
    )
    action, scheduled, next_run, missed = expected
    assert (got.action, got.scheduled, got.next_run, got.missed) == (
        action,
        at(scheduled),
        at(next_run),
        missed,
    )
    if action == "miss":
        assert got.reason.startswith(f"{missed} occurrence(s) missed")


def test_the_run_count_limit_is_respected_while_catching_up() -> None:
    limited = engine.Schedule(EVERY_10.sources, remaining=2)
    first = plan(limited, policy="all", scheduled=at(10), now=at(55), grace=None, cap=100)
    assert (first.action, first.next_run) == ("run", at(20))
    last = engine.Schedule(EVERY_10.sources, remaining=1)
    assert (
        plan(last, policy="all", scheduled=at(20), now=at(55), grace=None, cap=100).next_run is None
    )


@pytest.mark.parametrize("policy", ["once", "none", "all"])
def test_a_thirty_day_outage_is_decided_in_a_blink(policy: str) -> None:
    """A job every second, 30 days late: 2.6 million occurrences, counted, not walked."""
    every_second = engine.Schedule((engine.IntervalSource(T0, SECOND),))
    now = T0 + timedelta(days=30)
    got, calls = calls_during(
        lambda: plan(every_second, policy=policy, scheduled=at(1), now=now, grace=None, cap=100)
    )
    assert calls < 5_000, calls
    if policy == "all":
        assert (got.action, got.next_run, got.missed) == (
            "miss",
            now - 99 * SECOND,
            30 * 86400 - 100,
        )
    else:
        assert got.missed == 30 * 86400


def test_catch_up_all_with_a_calendar_and_jitter() -> None:
    """The occurrences counted and run are the schedule's, limits and jitter included."""
    office = engine.Schedule(
        (engine.WeeklySource(frozenset(range(1, 8)), datetime.min.time().replace(hour=7)),),
        engine.Limits(business_days=True),
        jitter=timedelta(minutes=5),
        seed="7",
    )
    friday = datetime(2027, 6, 4, 12, tzinfo=UTC)
    runs = engine.upcoming(office, after=friday - timedelta(days=1), count=3)  # Fri, Mon, Tue
    monday_noon = datetime(2027, 6, 7, 12, tzinfo=UTC)  # Tuesday's run still to come
    got = plan(office, policy="all", scheduled=runs[0], now=monday_noon, grace=None, cap=1)
    assert (got.action, got.next_run, got.missed) == ("miss", runs[1], 1)


# -- the loop step ----------------------------------------------------------------------------


@pytest.fixture
def daemon(clock):
    return Daemon(clock=clock, supervisor=InlineSupervisor(size=4), max_workers=4)


def runs_of(job: Job) -> list[tuple[datetime, str, int]]:
    return [
        (r.scheduled, r.status, r.missed_count)
        for r in JobRun.objects.filter(job=job).order_by("scheduled")
    ]


def steps(daemon: Daemon, clock, count: int = 20) -> None:
    for _ in range(count):
        daemon.run_once(clock.now())


@pytest.mark.django_db
def test_catch_up_all_runs_every_missed_occurrence_oldest_first(daemon, clock, settings):
    settings.AKJOB_CATCH_UP_MAX = 3
    job = make(code=jobcode.WhoAmI(), run_every=timedelta(seconds=10), catch_up="all")
    clock.set(at(55))  # 10 … 50 due: the two oldest missed, 30, 40, 50 run
    steps(daemon, clock)
    assert runs_of(job) == [
        (at(10), Status.MISSED, 2),
        (at(30), Status.SUCCEEDED, 0),
        (at(40), Status.SUCCEEDED, 0),
        (at(50), Status.SUCCEEDED, 0),
    ]
    missed = JobRun.objects.get(job=job, status=Status.MISSED)
    assert "beyond AKJOB_CATCH_UP_MAX (3 at a time)" in missed.error
    job.refresh_from_db()
    assert job._next_run == at(60) and job._run_count == 3
    assert job.job_code_object.seen.scheduled == at(50)  # each run is told its own occurrence


@pytest.mark.django_db
def test_catch_up_none_records_the_missed_and_waits(daemon, clock):
    job = make(run_every=timedelta(seconds=10), catch_up="none")
    clock.set(at(55))
    steps(daemon, clock)
    assert runs_of(job) == [(at(10), Status.MISSED, 5)]
    assert "catch_up is none" in JobRun.objects.get(job=job).error
    clock.set(at(60))
    steps(daemon, clock)
    assert runs_of(job)[-1] == (at(60), Status.SUCCEEDED, 0)


@pytest.mark.django_db
def test_catch_up_once_coalesces_as_before(daemon, clock):
    job = make(run_every=timedelta(seconds=10))
    assert job.catch_up == "once"
    clock.set(at(55))
    steps(daemon, clock)
    assert runs_of(job) == [(at(10), Status.SUCCEEDED, 4)]
    job.refresh_from_db()
    assert job._next_run == at(60)


# -- the plan against its definition ------------------------------------------------------------

SHAPES = [
    engine.Schedule((engine.IntervalSource(T0 + timedelta(seconds=3), timedelta(seconds=7)),)),
    engine.Schedule((engine.CronSource("*/10 7-18 * * 1-5", ZoneInfo("Europe/Berlin")),)),
    engine.Schedule((engine.CronSource("42 * * * *", ZoneInfo("Australia/Lord_Howe")),)),
    engine.Schedule(
        (engine.IntervalSource(T0, timedelta(minutes=15)),),
        engine.Limits(tz=ZoneInfo("America/Denver"), window=(time(8), time(16))),
    ),
    engine.Schedule(
        (engine.IntervalSource(T0, timedelta(seconds=30)),),
        jitter=timedelta(seconds=20),
        seed="7",
    ),
    engine.Schedule((engine.DatesSource((T0 + timedelta(hours=1), T0 + timedelta(days=2))),)),
]


def defined_plan(
    sched: engine.Schedule, policy: str, scheduled: datetime, now: datetime, grace
) -> tuple:
    """What docs/guarantees.md says a ``once`` or ``none`` job does, worked out step by step:
    count the occurrences from the due one to now, then decide."""
    due = since(sched, scheduled, now)
    if grace is not None and now - scheduled > grace:
        return "miss", engine.next_after(sched, after=now), due
    if policy == "none" and due > 1:
        return "miss", engine.next_after(sched, after=now), due
    return "run", engine.next_after(sched, after=now), due


@hypothesis.settings(max_examples=400, deadline=None)
@given(
    shape=st.sampled_from(SHAPES),
    start=st.integers(0, 400 * 86400),
    late=st.integers(0, 3 * 86400),
    micro=st.integers(0, 999999),
    grace=st.none() | st.integers(1, 86400),
    policy=st.sampled_from(["once", "none"]),
)
def test_the_plan_of_a_due_job_is_the_one_its_definition_gives(
    shape, start, late, micro, grace, policy
) -> None:
    """A job due once is decided with one question to the schedule; the answer must be the one
    counting every occurrence gives, for every shape, lateness and grace."""
    scheduled = engine.next_at_or_after(shape, at=T0 + timedelta(seconds=start))
    assume(scheduled is not None)
    now = scheduled + timedelta(seconds=late, microseconds=micro)
    grace = None if grace is None else timedelta(seconds=grace)
    got = plan(shape, policy=policy, scheduled=scheduled, now=now, grace=grace, cap=100)
    assert (got.action, got.next_run, got.missed) == defined_plan(
        shape, policy, scheduled, now, grace
    )
