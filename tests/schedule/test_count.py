"""count_between(): the run times in [start, end], counted without listing them."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from akjob.schedule import CronSource, DatesSource, Schedule, count_between, next_after
from tests.schedule.helpers import (
    CHATHAM,
    DENVER,
    LORD_HOWE,
    MON_FRI,
    calls_during,
    daily,
    every,
    hm,
    monthly,
    sched,
    utc,
)


def walk(schedule: Schedule, start: datetime, end: datetime) -> int:
    """The slow way: every run time from ``start`` on, one by one."""
    found, run = 0, next_after(schedule, after=start - timedelta(seconds=1))
    while run is not None and run <= end:
        found += 1
        run = next_after(schedule, after=run)
    return found


MARCH = (utc(2027, 3, 12), utc(2027, 3, 17))  # Denver springs forward on 14 March, 09:00 UTC
NOVEMBER = (utc(2027, 11, 5), utc(2027, 11, 10))  # and falls back on 7 November, 08:00 UTC
SHAPES = [
    pytest.param(sched(every(utc(2027, 1, 1), minutes=15)), id="interval"),
    pytest.param(
        sched(every(utc(2027, 1, 1), minutes=15), tz=DENVER, weekdays=MON_FRI), id="weekdays"
    ),
    pytest.param(
        sched(every(utc(2027, 1, 1), minutes=5), tz=DENVER, window=(hm(1), hm(3, 30))),
        id="window-over-the-changes",
    ),
    pytest.param(
        sched(every(utc(2027, 1, 1), minutes=10), tz=DENVER, window=(hm(22), hm(2))),
        id="wrapping-window",
    ),
    pytest.param(
        sched(every(utc(2027, 1, 1), minutes=20), tz=DENVER, months={3, 11}),
        id="day-limits-only-over-the-changes",
    ),
    pytest.param(sched(daily(hm(2, 30), DENVER)), id="daily-in-the-gap"),
    pytest.param(sched(daily(hm(1, 30), DENVER)), id="daily-in-the-repeat"),
    pytest.param(sched(monthly({7, 14}, hm(2), DENVER), tz=DENVER, weekdays={1}), id="monthly"),
    pytest.param(Schedule((CronSource("*/20 * * * *", DENVER),)), id="cron-real-clock"),
    pytest.param(Schedule((CronSource("0,30 1,2 * * *", DENVER),)), id="cron-fixed"),
    pytest.param(
        sched(
            every(utc(2027, 1, 1), minutes=15),
            CronSource("*/30 * * * *", DENVER),
            daily(hm(1), DENVER),
            tz=DENVER,
            window=(hm(0, 30), hm(4)),
        ),
        id="shared-run-times-count-once",
    ),
    pytest.param(
        Schedule(
            (
                DatesSource((utc(2027, 3, 14, 9), utc(2027, 11, 7, 8, 15), utc(2027, 11, 8))),
                CronSource("15 * * * *", DENVER),
            )
        ),
        id="dates-and-cron",
    ),
]


@pytest.mark.parametrize("schedule", SHAPES)
@pytest.mark.parametrize("span", [MARCH, NOVEMBER], ids=["march", "november"])
def test_count_equals_the_walk(schedule: Schedule, span: tuple[datetime, datetime]) -> None:
    start, end = span
    assert count_between(schedule, start=start, end=end) == walk(schedule, start, end) > 0


def test_shared_run_times_count_once() -> None:
    quarter = every(utc(2027, 1, 1), minutes=15)
    schedule = sched(quarter, CronSource("*/30 * * * *"))
    assert count_between(schedule, start=utc(2027, 1, 2), end=utc(2027, 1, 2, 23, 59)) == 96
    same = sched(daily(hm(6)), monthly({2}, hm(6)))
    assert count_between(same, start=utc(2027, 1, 1), end=utc(2027, 1, 31, 23)) == 31


@pytest.mark.parametrize(
    ("schedule", "start", "end", "expected"),
    [
        # The cron cases that lost runs on a change day (see docs/schedule.md).
        (Schedule((CronSource("42 * * * *", LORD_HOWE),)), (2027, 10, 2, 13), (2027, 10, 2, 17), 5),
        (
            Schedule((CronSource("*/15 16-23 * * *", LORD_HOWE),)),
            (2027, 10, 3, 4),
            (2027, 10, 3, 13),
            32,
        ),
        (
            Schedule((CronSource("* 4,11,18,21 * * *", LORD_HOWE),)),
            (2027, 4, 3, 14),
            (2027, 4, 4, 14),
            240,
        ),
        (Schedule((CronSource("* 3 * * *", CHATHAM),)), (2027, 9, 25, 12), (2027, 9, 26, 12), 15),
    ],
)
def test_cron_counts_on_change_days(
    schedule: Schedule, start: tuple[int, ...], end: tuple[int, ...], expected: int
) -> None:
    assert count_between(schedule, start=utc(*start), end=utc(*end)) == expected
    assert walk(schedule, utc(*start), utc(*end)) == expected


def test_both_ends_are_included_and_fractions_round_inwards() -> None:
    hourly = sched(every(utc(2027, 1, 1), hours=1))
    start, end = utc(2027, 1, 1, 1), utc(2027, 1, 1, 3)
    assert count_between(hourly, start=start, end=end) == 3
    half = timedelta(microseconds=500_000)
    assert count_between(hourly, start=start + half, end=end - half) == 1
    assert count_between(hourly, start=start - half, end=end + half) == 3
    assert count_between(hourly, start=end, end=start) == 0


def test_remaining_and_cap_stop_the_count() -> None:
    schedule = sched(every(utc(2027, 1, 1), minutes=1))
    start, end = utc(2027, 1, 1), utc(2027, 1, 2)
    assert count_between(schedule, start=start, end=end) == 1440
    assert count_between(replace(schedule, remaining=7), start=start, end=end) == 7
    assert count_between(schedule, start=start, end=end, cap=100) == 100
    assert count_between(replace(schedule, enabled=False), start=start, end=end) == 0
    assert count_between(replace(schedule, remaining=0), start=start, end=end) == 0
    with pytest.raises(ValueError, match="cap"):
        count_between(schedule, start=start, end=end, cap=-1)
    with pytest.raises(ValueError, match="aware"):
        count_between(schedule, start=datetime(2027, 1, 1), end=end)


@pytest.mark.parametrize(
    "schedule",
    [
        sched(every(utc(2027, 1, 1), seconds=1)),
        sched(every(utc(2027, 1, 1), seconds=1), tz=DENVER, window=(hm(22), hm(6)), weekdays={2}),
        Schedule((CronSource("* * * * *", DENVER),)),
        Schedule((CronSource("*/10 7-18 * * 1-5", DENVER),)),
        sched(daily(hm(2, 30), DENVER), tz=DENVER, months={3, 4}),
    ],
    ids=["every-second", "every-second-limited", "cron-every-minute", "cron-workdays", "daily"],
)
def test_a_long_gap_is_counted_not_walked(schedule: Schedule) -> None:
    """30 days after a gap: millions of run times for some, counted with a few thousand calls
    at most (listing them would take a call or more each)."""
    start = utc(2027, 3, 1)
    found, calls = calls_during(
        lambda: count_between(schedule, start=start, end=start + timedelta(days=30))
    )
    assert found > 0
    assert calls < 5_000, calls
