"""describe() and explain_empty(): short, deterministic words about a schedule."""

from __future__ import annotations

from datetime import date

import pytest

from akjob.schedule import CronSource, DatesSource, Schedule, describe, explain_empty
from tests.schedule.helpers import (
    DENVER,
    EAST,
    MON_FRI,
    WEST,
    every,
    hm,
    monthly,
    sched,
    utc,
    weekly,
)

ANCHOR = utc(2027, 1, 1)
AFTER = utc(2027, 3, 1)


@pytest.mark.parametrize(
    ("schedule", "text"),
    [
        pytest.param(
            sched(every(ANCHOR, minutes=15), tz=WEST, window=(hm(8), hm(16)), weekdays=MON_FRI),
            "every 15 minutes, 08:00–16:00 UTC−07:00, Mon–Fri",
            id="limited-interval",
        ),
        pytest.param(
            sched(monthly({1, 15}, hm(1, 30))),
            "on days 1, 15 of the month at 01:30 UTC",
            id="monthly",
        ),
        pytest.param(
            sched(weekly(set(MON_FRI), hm(22), DENVER)),
            "Mon–Fri at 22:00 America/Denver",
            id="weekly",
        ),
        pytest.param(
            Schedule((CronSource("0 * * * *", DENVER),)),
            "cron '0 * * * *' (America/Denver)",
            id="cron",
        ),
        pytest.param(
            Schedule((DatesSource((utc(2027, 1, 1), utc(2027, 2, 1))),)), "2 dates", id="dates"
        ),
        pytest.param(Schedule((every(ANCHOR, hours=1),), enabled=False), "disabled", id="disabled"),
        pytest.param(
            Schedule((every(ANCHOR, hours=1),), remaining=0),
            "no more runs (limit reached)",
            id="limit-reached",
        ),
        pytest.param(
            Schedule((every(ANCHOR, hours=1),), remaining=1), "every hour, 1 run left", id="left"
        ),
        pytest.param(
            sched(every(ANCHOR, hours=1), monthdays={29}, months={2}),
            "every hour, day 29, Feb",
            id="day-limits",
        ),
        pytest.param(
            sched(every(ANCHOR, seconds=90), weekdays={1, 7}, date_begin=date(2027, 1, 1)),
            "every 90 seconds, Sun, Sat, from 2027-01-01",
            id="weekend-from",
        ),
        pytest.param(
            sched(
                every(ANCHOR, days=2),
                tz=DENVER,
                monthdays={1, 2, 3, 10},
                months={1, 2, 3, 6},
                date_begin=date(2027, 1, 1),
                date_end=date(2027, 6, 30),
            ),
            "every 2 days, days 1–3, 10, Jan–Mar, Jun, 2027-01-01 to 2027-06-30 (America/Denver)",
            id="all-day-limits-in-a-zone",
        ),
        pytest.param(
            sched(weekly(set(range(1, 8)), hm(8, 0, 30), EAST), window=(hm(22), hm(2))),
            "every day at 08:00:30 UTC+05:30, 22:00–02:00 UTC",
            id="every-day-seconds-east",
        ),
        pytest.param(Schedule(()), "nothing scheduled", id="nothing"),
    ],
)
def test_describe(schedule: Schedule, text: str) -> None:
    assert describe(schedule) == text


@pytest.mark.parametrize(
    ("schedule", "words"),
    [
        pytest.param(Schedule((every(ANCHOR, hours=1),), enabled=False), "disabled", id="disabled"),
        pytest.param(
            Schedule((every(ANCHOR, hours=1),), remaining=0), "run_count_limit", id="limit"
        ),
        pytest.param(Schedule(()), "no source", id="no-sources"),
        pytest.param(
            sched(monthly({30}, hm(0)), months={2}),
            "monthly_days [30] and active_months [2] allow no day",
            id="monthly-30-february",
        ),
        pytest.param(
            sched(every(ANCHOR, hours=1), months={2}, monthdays={30}),
            "active_monthly_days [30] and active_months [2] allow no day",
            id="limits-feb-30",
        ),
        pytest.param(
            sched(
                weekly({2}, hm(0)),
                monthdays={29},
                months={2},
                date_begin=date(2030, 1, 1),
                date_end=date(2031, 12, 31),
            ),
            "active_date_begin 2030-01-01 and active_date_end 2031-12-31 allow no day",
            id="monday-feb-29-2030-2031",
        ),
        pytest.param(
            sched(every(ANCHOR, hours=1), date_end=date(2027, 2, 28)),
            "the date range ends on 2027-02-28 (active_date_end)",
            id="range-over",
        ),
        pytest.param(
            Schedule((DatesSource((utc(2027, 1, 1), utc(2027, 2, 1))),)),
            "all dates are on or before",
            id="past-dates",
        ),
        pytest.param(
            sched(weekly({2}, hm(22)), window=(hm(8), hm(16))),
            "weekly_time 22:00 is outside the active time 08:00–16:00 UTC",
            id="time-outside-window",
        ),
        pytest.param(
            sched(every(utc(2027, 1, 1, 12), days=1), window=(hm(8), hm(9))),
            "the run_every grid (every day) never meets 08:00–09:00 UTC",
            id="grid-misses-window",
        ),
        pytest.param(
            sched(every(utc(2027, 1, 1), days=7), weekdays={2}),
            "no run of every 7 days passes the limits (Mon)",
            id="generic",
        ),
    ],
)
def test_explain_empty(schedule: Schedule, words: str) -> None:
    reason = explain_empty(schedule, after=AFTER)
    assert reason is not None
    assert words in reason


def test_explain_empty_is_none_when_there_is_a_run() -> None:
    assert explain_empty(sched(every(ANCHOR, hours=1)), after=AFTER) is None
    assert explain_empty(sched(monthly({29}, hm(0)), months={2}), after=AFTER) is None
