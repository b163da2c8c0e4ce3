"""Daylight saving time (docs/schedule.md, rules 1–5), with exact UTC instants.

America/Denver 2027: spring forward 2027-03-14 02:00 MST → 03:00 MDT (09:00 UTC); fall back
2027-11-07 02:00 MDT → 01:00 MST (08:00 UTC), so 01:00–01:59 happens twice.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from akjob.schedule import CronSource, Schedule, next_after
from tests.schedule.helpers import (
    CHATHAM,
    DENVER,
    HAVANA,
    KATHMANDU,
    LONDON,
    LORD_HOWE,
    daily,
    every,
    hm,
    monthly,
    runs,
    sched,
    utc,
)

CASES = [
    # Reliability case 1: the gap. 02:30 does not exist on 2027-03-14: once, at 03:00 MDT.
    pytest.param(
        sched(daily(hm(2, 30), DENVER)),
        utc(2027, 3, 13, 9, 30),  # the run of 2027-03-13 02:30 MST
        [utc(2027, 3, 14, 9), utc(2027, 3, 15, 8, 30)],
        id="denver-gap-daily-0230",
    ),
    pytest.param(
        sched(monthly({14}, hm(2, 30), DENVER)),
        utc(2027, 3, 1),
        [utc(2027, 3, 14, 9), utc(2027, 4, 14, 8, 30)],
        id="denver-gap-monthly-0230",
    ),
    pytest.param(
        sched(daily(hm(2), DENVER)),
        utc(2027, 3, 13, 12),
        [utc(2027, 3, 14, 9), utc(2027, 3, 15, 8)],
        id="denver-gap-start-0200",
    ),
    # Reliability case 2: the overlap. 01:30 happens twice on 2027-11-07: once, at the first.
    pytest.param(
        sched(daily(hm(1, 30), DENVER)),
        utc(2027, 11, 6, 12),
        [utc(2027, 11, 7, 7, 30), utc(2027, 11, 8, 8, 30)],
        id="denver-overlap-daily-0130",
    ),
    pytest.param(
        sched(daily(hm(1, 30), DENVER)),
        utc(2027, 11, 7, 8, 15),  # 01:15 MST, between the two 01:30s
        [utc(2027, 11, 8, 8, 30)],
        id="denver-overlap-no-second-run",
    ),
    # Reliability case 3: hourly cron fires in both passes of the repeated hour.
    pytest.param(
        Schedule((CronSource("0 * * * *", DENVER),)),
        utc(2027, 3, 14, 7, 30),  # 00:30 MST
        [utc(2027, 3, 14, 8), utc(2027, 3, 14, 9), utc(2027, 3, 14, 10)],
        id="denver-cron-hourly-gap",
    ),
    pytest.param(
        Schedule((CronSource("0 * * * *", DENVER),)),
        utc(2027, 11, 7, 6, 30),  # 00:30 MDT
        [utc(2027, 11, 7, 7), utc(2027, 11, 7, 8), utc(2027, 11, 7, 9)],
        id="denver-cron-hourly-overlap-both-passes",
    ),
    pytest.param(
        Schedule((CronSource("30 2 * * *", DENVER),)),
        utc(2027, 3, 13, 12),
        [utc(2027, 3, 14, 9), utc(2027, 3, 15, 8, 30)],
        id="denver-cron-fixed-gap",
    ),
    pytest.param(
        Schedule((CronSource("0,30 2 * * *", DENVER),)),
        utc(2027, 3, 13, 12),
        [utc(2027, 3, 14, 9), utc(2027, 3, 15, 8), utc(2027, 3, 15, 8, 30)],
        id="denver-cron-two-times-in-gap-run-once",
    ),
    pytest.param(
        Schedule((CronSource("30 1 * * *", DENVER),)),
        utc(2027, 11, 6, 12),
        [utc(2027, 11, 7, 7, 30), utc(2027, 11, 8, 8, 30)],
        id="denver-cron-fixed-overlap-once",
    ),
    pytest.param(
        Schedule((CronSource("30 1 * * *", DENVER),)),
        utc(2027, 11, 7, 8, 15),  # 01:15 MST, between the two 01:30s
        [utc(2027, 11, 8, 8, 30)],
        id="denver-cron-fixed-overlap-no-second-run",
    ),
    pytest.param(
        Schedule((CronSource("*/30 1 * * *", DENVER),)),
        utc(2027, 11, 7, 6),
        [
            utc(2027, 11, 7, 7),
            utc(2027, 11, 7, 7, 30),
            utc(2027, 11, 7, 8),
            utc(2027, 11, 7, 8, 30),
        ],
        id="denver-cron-minute-step-both-passes",
    ),
    pytest.param(
        Schedule((CronSource("*/30 2 * * *", DENVER),)),
        utc(2027, 3, 13, 12),
        [utc(2027, 3, 15, 8), utc(2027, 3, 15, 8, 30)],
        id="denver-cron-minute-step-skips-gap",
    ),
    # Reliability case 5 and other zones.
    pytest.param(
        sched(daily(hm(1, 30), LONDON)),
        utc(2027, 3, 27, 12),
        [utc(2027, 3, 28, 1), utc(2027, 3, 29, 0, 30)],
        id="london-gap",
    ),
    pytest.param(
        sched(daily(hm(1, 30), LONDON)),
        utc(2027, 10, 30, 12),
        [utc(2027, 10, 31, 0, 30), utc(2027, 11, 1, 1, 30)],
        id="london-overlap",
    ),
    pytest.param(
        sched(daily(hm(2, 15), LORD_HOWE)),
        utc(2027, 10, 2, 0),
        [utc(2027, 10, 2, 15, 30), utc(2027, 10, 3, 15, 15)],
        id="lord-howe-half-hour-gap",
    ),
    pytest.param(
        sched(daily(hm(1, 45), LORD_HOWE)),
        utc(2027, 4, 3, 0),
        [utc(2027, 4, 3, 14, 45), utc(2027, 4, 4, 15, 15)],
        id="lord-howe-half-hour-overlap",
    ),
    pytest.param(
        sched(daily(hm(0, 30), HAVANA)),
        utc(2027, 3, 13, 12),
        [utc(2027, 3, 14, 5), utc(2027, 3, 15, 4, 30)],
        id="havana-midnight-gap",
    ),
    pytest.param(
        sched(daily(hm(0), HAVANA)),
        utc(2027, 3, 13, 12),
        [utc(2027, 3, 14, 5), utc(2027, 3, 15, 4)],
        id="havana-missing-midnight",
    ),
    pytest.param(
        sched(daily(hm(0, 30), HAVANA)),
        utc(2027, 11, 6, 12),
        [utc(2027, 11, 7, 4, 30), utc(2027, 11, 8, 5, 30)],
        id="havana-midnight-overlap",
    ),
    pytest.param(
        sched(daily(hm(6), KATHMANDU)),
        utc(2027, 3, 1),
        [utc(2027, 3, 1, 0, 15), utc(2027, 3, 2, 0, 15)],
        id="kathmandu-0545",
    ),
    pytest.param(
        sched(every(utc(2027, 1, 1), minutes=30), tz=KATHMANDU, window=(hm(9), hm(10))),
        utc(2027, 3, 1),
        [utc(2027, 3, 1, 3, 30), utc(2027, 3, 1, 4), utc(2027, 3, 2, 3, 30)],
        id="kathmandu-window-off-the-hour",
    ),
    pytest.param(
        sched(daily(hm(3), CHATHAM)),
        utc(2027, 9, 25, 0),
        [utc(2027, 9, 25, 14), utc(2027, 9, 26, 13, 15)],
        id="chatham-gap-0245",
    ),
    pytest.param(
        sched(daily(hm(3), CHATHAM)),
        utc(2027, 4, 3, 0),
        [utc(2027, 4, 3, 13, 15), utc(2027, 4, 4, 14, 15)],
        id="chatham-overlap-first-pass",
    ),
    # Windows read in a zone with DST.
    pytest.param(
        sched(every(utc(2027, 11, 7, 6), minutes=15), tz=DENVER, window=(hm(1), hm(1, 20))),
        utc(2027, 11, 7, 6),
        [
            utc(2027, 11, 7, 7),
            utc(2027, 11, 7, 7, 15),
            utc(2027, 11, 7, 8),
            utc(2027, 11, 7, 8, 15),
        ],
        id="window-keeps-second-pass-of-overlap",
    ),
    pytest.param(
        sched(every(utc(2027, 3, 14, 7), minutes=15), tz=DENVER, window=(hm(2, 30), hm(4))),
        utc(2027, 3, 14, 7),
        [utc(2027, 3, 14, 9), utc(2027, 3, 14, 9, 15)],
        id="window-start-in-gap-opens-at-transition",
    ),
    pytest.param(
        sched(every(utc(2027, 3, 14, 7), minutes=5), tz=DENVER, window=(hm(2, 10), hm(2, 20))),
        utc(2027, 3, 14, 7),
        [utc(2027, 3, 15, 8, 10), utc(2027, 3, 15, 8, 15)],
        id="window-inside-gap-allows-nothing-that-day",
    ),
    pytest.param(
        sched(daily(hm(2, 30), DENVER), tz=DENVER, window=(hm(2, 45), hm(3, 30))),
        utc(2027, 1, 1),
        [utc(2027, 3, 14, 9), utc(2028, 3, 12, 9)],
        id="gap-moves-fixed-time-into-window",
    ),
    pytest.param(
        sched(daily(hm(22), DENVER), tz=DENVER, window=(hm(21), hm(23)), weekdays={2}),
        utc(2027, 3, 1),
        [utc(2027, 3, 2, 5), utc(2027, 3, 9, 5), utc(2027, 3, 16, 4)],
        id="same-zone-limits-follow-dst",
    ),
]


@pytest.mark.parametrize(("schedule", "after", "expected"), CASES)
def test_dst(schedule: Schedule, after: datetime, expected: list[datetime]) -> None:
    assert runs(schedule, after, count=len(expected)) == expected


@pytest.mark.parametrize(
    ("day", "local_hour_1"),
    [(utc(2027, 3, 14, 7), 4), (utc(2027, 11, 7, 6), 8)],
    ids=["spring-forward", "fall-back"],
)
def test_interval_is_elapsed_time_across_dst(day: datetime, local_hour_1: int) -> None:
    """Reliability case 4: every 15 minutes from local midnight is 900 s apart in UTC, and the
    doubled 01:00–02:00 of the fall-back holds 8 runs."""
    schedule = sched(every(day, minutes=15))
    found = runs(schedule, day, count=4 * 24)
    assert {b - a for a, b in zip(found, found[1:], strict=False)} == {timedelta(seconds=900)}
    assert found[0] == day + timedelta(minutes=15)
    local_date = day.astimezone(DENVER).date()
    in_hour_1 = [
        run
        for run in [day, *found]
        if run.astimezone(DENVER).date() == local_date and run.astimezone(DENVER).hour == 1
    ]
    assert len(in_hour_1) == local_hour_1


def test_interval_limits_read_on_local_wall_clock() -> None:
    """Elapsed grid, wall-clock window: 08:00 Denver is 15:00 UTC in winter, 14:00 in summer."""
    schedule = sched(every(utc(2027, 1, 1), hours=1), tz=DENVER, window=(hm(8), hm(8)))
    assert runs(schedule, utc(2027, 3, 12), 4) == [
        utc(2027, 3, 12, 15),
        utc(2027, 3, 13, 15),
        utc(2027, 3, 14, 14),
        utc(2027, 3, 15, 14),
    ]


def test_no_loop_and_no_missed_day_across_a_year_of_changes() -> None:
    schedule = sched(daily(hm(2, 30), DENVER))
    found = runs(schedule, utc(2027, 1, 1), count=365)
    local_days = {run.astimezone(DENVER).date() for run in found}
    assert len(found) == len(local_days) == 365
    assert next_after(schedule, after=found[-1]) is not None
