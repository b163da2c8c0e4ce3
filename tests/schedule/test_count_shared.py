"""count_between() with several busy sources: the run times they share counted once, by
arithmetic, checked against the brute-force oracle of tests/schedule/test_oracle.py."""

from __future__ import annotations

import time as clock
from datetime import UTC, datetime, time, timedelta, timezone, tzinfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from akjob.schedule import CronSource, IntervalSource, Limits, Schedule, count_between
from akjob.schedule.calculator import compile_schedule
from akjob.schedule.overlap import Grid, shared
from akjob.schedule.zones import floor_seconds
from tests.schedule.helpers import (
    CHATHAM,
    DENVER,
    EAST,
    HAVANA,
    LONDON,
    LORD_HOWE,
    MON_FRI,
    WEST,
    offset_changes,
    utc,
)
from tests.schedule.test_oracle import Plan, draw_limits, oracle

IANA = [DENVER, LONDON, LORD_HOWE, CHATHAM, HAVANA]
ZONES = [*IANA, UTC, WEST, EAST, timezone(timedelta(hours=1))]
CHANGES = [change for zone in IANA for change in offset_changes(zone)]
BUSY_CRONS = [
    "* * * * *",
    "*/5 * * * *",
    "*/10 7-18 * * 1-5",
    "*/15 * * * *",
    "0,20,40 * * * *",
    "* 1-3 * * *",
    "*/30 0-4 * * *",
    "5-25/5 2 * * *",
    "0 * * * *",
    "30 * * * 0,6",
    "*/7 * 1-15 * *",
    "0,30 1,2 * * *",
    "15 1-3 * * *",
    "*/20 * L * *",
]
STEPS = st.sampled_from([7, 45, 60, 300, 420, 600, 900, 1800, 3600, 5400, 86399]) | st.integers(
    30, 4 * 3600
)
minutes = st.sampled_from([0, 15, 30, 45]) | st.integers(0, 59)
wall = st.builds(time, st.integers(0, 23) | st.integers(0, 3), minutes)


@st.composite
def busy_plans(draw: st.DrawFn) -> tuple[Plan, datetime, int]:
    """Two to four busy sources (intervals, crons, daily times, dates) in zones with every kind
    of change, often with a window, around an offset change; and a gap of up to three days."""
    if draw(st.booleans()):
        start = draw(st.sampled_from(CHANGES)) + timedelta(
            seconds=draw(st.integers(-2 * 86400, 86400))
        )
    else:
        start = utc(2027, 1, 1) + timedelta(seconds=draw(st.integers(0, 365 * 86400)))
    one = draw(st.sampled_from(ZONES))
    same = draw(st.booleans())

    def zone() -> tzinfo:
        return one if same else draw(st.sampled_from(ZONES))

    plan = Plan(tz=zone())
    kinds = draw(
        st.lists(
            st.sampled_from(["every", "cron", "week", "month", "dates"]), min_size=2, max_size=4
        )
    )
    for kind in kinds:
        if kind == "every":
            anchor = start - timedelta(seconds=draw(st.integers(0, 3 * 86400)))
            if draw(st.booleans()):  # on a whole minute, so that it meets the other sources
                anchor = anchor.replace(second=0, microsecond=0)
            plan.intervals.append((anchor, draw(STEPS)))
        elif kind == "cron":
            plan.crons.append((draw(st.sampled_from(BUSY_CRONS)), zone()))
        elif kind == "week":
            plan.weekly.append(
                (draw(st.frozensets(st.integers(1, 7), min_size=1)), draw(wall), zone())
            )
        elif kind == "month":
            days = draw(st.frozensets(st.integers(1, 31), min_size=5))
            plan.monthly.append((days, draw(wall), zone(), frozenset(), frozenset()))
        else:
            seconds = st.integers(-3600, 3 * 86400).map(lambda s: s - s % 60)
            plan.dates += [
                start + timedelta(seconds=s) for s in draw(st.lists(seconds, max_size=6))
            ]
    draw_limits(draw, plan, start, ahead=2)
    span = draw(st.integers(0, 3 * 86400))
    # Keep the brute force quick: a grid of seconds over a short gap only.
    if any(step < 60 for _, step in plan.intervals):
        span = min(span, 6 * 3600)
    return plan, start.replace(microsecond=0), span


@settings(
    max_examples=400,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(busy_plans())
def test_several_busy_sources_match_the_oracle(case: tuple[Plan, datetime, int]) -> None:
    plan, start, span = case
    end = start + timedelta(seconds=span)
    expected = oracle(plan, start - timedelta(seconds=1), end, None)
    assert count_between(plan.schedule(), start=start, end=end) == len(expected)


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(
    st.lists(st.tuples(st.integers(0, 10_000), st.integers(1, 300)), min_size=2, max_size=3),
    st.integers(0, 5_000),
    st.integers(0, 20_000),
)
def test_grids_meet_exactly(grids: list[tuple[int, int]], begin: int, length: int) -> None:
    """The instants on several interval grids, by the Chinese remainder theorem, equal the
    instants counted one by one."""
    end = begin + length
    met: Grid | None = Grid(*grids[0], grids[0][0] + grids[0][1])
    for anchor, every in grids[1:]:
        met = met.meet(Grid(anchor, every, anchor + every)) if met is not None else None
    expected = sum(
        all(t >= a + e and (t - a) % e == 0 for a, e in grids) for t in range(begin, end + 1)
    )
    assert (0 if met is None else met.count(begin, end)) == expected


def brute_shared(schedule: Schedule, begin: int, end: int) -> int:
    """The instants every source of ``schedule`` runs at, found by listing each source."""
    compiled = compile_schedule(schedule)
    assert compiled is not None
    sets = []
    for runner in compiled.runners:
        found, instant = set(), begin
        while (run := runner.first(instant, end)) is not None and run <= end:
            found.add(run)
            instant = run + 1
        sets.append(found)
    return len(set.intersection(*sets))


@pytest.mark.parametrize(
    ("sources", "start"),
    [
        # A gap (Denver, 14 March 2027) and a repeated hour (7 November 2027) under fixed times
        # and the real clock, in one zone and across two.
        (("30 2 * * *", "*/30 2 * * *"), utc(2027, 3, 13)),
        (("0,30 1 * * *", "* 1 * * *"), utc(2027, 11, 6)),
        (("15 2 * * *", "45 2 * * *"), utc(2027, 3, 13)),
        (("0 * * * *", "*/20 * * * *"), utc(2027, 11, 6)),
        (("*/15 * * * *", "0 */2 * * *"), utc(2027, 10, 2)),
    ],
)
def test_shared_times_across_changes(sources: tuple[str, str], start: datetime) -> None:
    zones = [(DENVER, DENVER), (DENVER, LORD_HOWE), (LORD_HOWE, CHATHAM)]
    for first, second in zones:
        schedule = Schedule((CronSource(sources[0], first), CronSource(sources[1], second)))
        compiled = compile_schedule(schedule)
        assert compiled is not None
        begin = floor_seconds(start)
        for length in (3600, 86400, 3 * 86400):
            end = begin + length
            expected = brute_shared(schedule, begin, end)
            assert shared(compiled.runners, begin, end) == expected, (first, second, length)


MULTI = [
    Schedule(
        (
            IntervalSource(utc(2027, 1, 1), timedelta(minutes=10)),
            CronSource("*/15 * * * *", DENVER),
        ),
        Limits(tz=DENVER, window=(time(8), time(16)), weekdays=MON_FRI),
    ),
    Schedule(
        (
            IntervalSource(utc(2027, 1, 1), timedelta(minutes=7)),
            CronSource("*/10 7-18 * * 1-5", LONDON),
            CronSource("* 9 * * *", LONDON),
        ),
        Limits(tz=LONDON, window=(time(8), time(16))),
    ),
    Schedule(
        (IntervalSource(utc(2027, 1, 1), timedelta(seconds=7)), CronSource("* * * * *", DENVER))
    ),
]


@pytest.mark.parametrize("schedule", MULTI, ids=["interval-cron-window", "three", "seconds"])
def test_a_long_gap_with_busy_sources_is_counted_not_walked(schedule: Schedule) -> None:
    """30 days with several busy sources, up to 400,000 run times, counted in well under the
    bound: CPU time, first call included (loose for busy machines; listing them would take
    seconds)."""
    start = utc(2027, 3, 1)
    started = clock.process_time()
    found = count_between(schedule, start=start, end=start + timedelta(days=30))
    assert clock.process_time() - started < 0.1
    assert found > 0


@pytest.mark.parametrize("window", [None, (time(1), time(3))], ids=["open", "window"])
def test_more_sources_than_inclusion_exclusion_takes(window: tuple[time, time] | None) -> None:
    """Beyond six busy sources the shared run times are listed (docs/schedule.md): the count is
    the oracle's all the same, across a repeated hour."""
    plan = Plan(tz=DENVER, window=window)
    plan.crons = [(f"*/{step} * * * *", DENVER) for step in (2, 3, 5, 7, 11, 13)]
    plan.crons.append(("0,30 1 * * *", DENVER))
    plan.intervals.append((utc(2027, 11, 6), 600))
    start, end = utc(2027, 11, 7, 6), utc(2027, 11, 7, 12)
    expected = oracle(plan, start - timedelta(seconds=1), end, None)
    assert len(plan.schedule().sources) == 8
    assert count_between(plan.schedule(), start=start, end=end) == len(expected) > 0
