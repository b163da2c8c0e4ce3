"""Run times of schedules without daylight saving time: tables of (schedule, after, expected)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from akjob.schedule import (
    DatesSource,
    Limits,
    Schedule,
    next_after,
    next_at_or_after,
    upcoming,
)
from tests.schedule.helpers import (
    EAST,
    EVERY_DAY,
    MON_FRI,
    WEST,
    daily,
    every,
    hm,
    monthly,
    runs,
    sched,
    utc,
    weekly,
)

ANCHOR = utc(2027, 1, 1)

CASES = [
    pytest.param(
        sched(monthly({31}, hm(12))),
        utc(2027, 3, 31, 12),
        [utc(2027, 5, 31, 12), utc(2027, 7, 31, 12), utc(2027, 8, 31, 12), utc(2027, 10, 31, 12)],
        id="day-31-skips-30-day-months",
    ),
    pytest.param(
        sched(monthly({30}, hm(0))),
        utc(2028, 1, 31),
        [utc(2028, 3, 30), utc(2028, 4, 30)],
        id="day-30-skips-february",
    ),
    pytest.param(
        sched(monthly({29}, hm(0)), months={2}),
        utc(2027, 3, 1),
        [utc(2028, 2, 29), utc(2032, 2, 29), utc(2036, 2, 29)],
        id="feb-29-only-in-leap-years",
    ),
    pytest.param(
        sched(monthly({29}, hm(0)), months={2}),
        utc(2099, 3, 1),
        [utc(2104, 2, 29)],
        id="feb-29-not-in-2100",
    ),
    pytest.param(
        sched(monthly({1, 15}, hm(1, 30))),
        utc(2027, 1, 15, 1, 30),
        [utc(2027, 2, 1, 1, 30), utc(2027, 2, 15, 1, 30), utc(2027, 3, 1, 1, 30)],
        id="monthly-1-and-15",
    ),
    pytest.param(
        sched(weekly({1}, hm(9))),
        utc(2027, 3, 1),  # a Monday
        [utc(2027, 3, 7, 9), utc(2027, 3, 14, 9)],
        id="weekday-1-is-sunday",
    ),
    pytest.param(
        sched(weekly({7}, hm(9))),
        utc(2027, 3, 1),
        [utc(2027, 3, 6, 9), utc(2027, 3, 13, 9)],
        id="weekday-7-is-saturday",
    ),
    pytest.param(
        sched(weekly({2, 4}, hm(9))),
        utc(2027, 3, 1, 9),
        [utc(2027, 3, 3, 9), utc(2027, 3, 8, 9), utc(2027, 3, 10, 9)],
        id="weekday-2-is-monday-strictly-after",
    ),
    pytest.param(
        sched(weekly({2}, hm(22), WEST)),
        utc(2027, 3, 1),
        [utc(2027, 3, 2, 5), utc(2027, 3, 9, 5)],
        id="fixed-offset-west-monday-22h",
    ),
    pytest.param(
        sched(monthly({1}, hm(3), EAST)),
        utc(2027, 2, 1),
        [utc(2027, 2, 28, 21, 30), utc(2027, 3, 31, 21, 30)],
        id="fixed-offset-east-first-at-3h",
    ),
    pytest.param(
        sched(every(ANCHOR, minutes=15), tz=WEST, window=(hm(8), hm(16)), weekdays=MON_FRI),
        utc(2027, 3, 5, 22, 50),  # Friday 15:50 at UTC−7
        [utc(2027, 3, 5, 23), utc(2027, 3, 8, 15), utc(2027, 3, 8, 15, 15)],
        id="interval-window-weekdays-west",
    ),
    pytest.param(
        sched(every(ANCHOR, hours=1), window=(hm(22), hm(2))),
        utc(2027, 3, 1, 2, 30),
        [
            utc(2027, 3, 1, 22),
            utc(2027, 3, 1, 23),
            utc(2027, 3, 2, 0),
            utc(2027, 3, 2, 1),
            utc(2027, 3, 2, 2),
            utc(2027, 3, 2, 22),
        ],
        id="window-wraps-midnight",
    ),
    pytest.param(
        sched(every(ANCHOR, hours=1), tz=EAST, window=(hm(22), hm(2)), weekdays={2}),
        utc(2027, 3, 1),  # Monday 05:30 at +05:30; the grid is at :30 local
        [utc(2027, 3, 1, 17), utc(2027, 3, 1, 18), utc(2027, 3, 7, 19), utc(2027, 3, 7, 20)],
        id="wrapping-window-reads-each-local-day",
    ),
    pytest.param(
        sched(every(ANCHOR, minutes=30), window=(hm(8), hm(9))),
        utc(2027, 3, 1, 7, 59, 59),
        [utc(2027, 3, 1, 8), utc(2027, 3, 1, 8, 30), utc(2027, 3, 1, 9), utc(2027, 3, 2, 8)],
        id="window-ends-inclusive",
    ),
    pytest.param(
        sched(every(ANCHOR, seconds=1), window=(hm(8, 0, 5), hm(8, 0, 5))),
        utc(2027, 3, 1),
        [utc(2027, 3, 1, 8, 0, 5), utc(2027, 3, 2, 8, 0, 5)],
        id="one-second-window",
    ),
    pytest.param(
        sched(
            every(utc(2027, 1, 1, 12), days=1),
            date_begin=date(2027, 3, 10),
            date_end=date(2027, 3, 12),
        ),
        utc(2027, 3, 1),
        [utc(2027, 3, 10, 12), utc(2027, 3, 11, 12), utc(2027, 3, 12, 12)],
        id="date-range-inclusive",
    ),
    pytest.param(
        sched(every(utc(2027, 1, 1, 23), days=1), tz=WEST, date_begin=date(2027, 3, 10)),
        utc(2027, 3, 1),
        [utc(2027, 3, 10, 23), utc(2027, 3, 11, 23)],
        id="date-range-read-on-local-date",
    ),
    pytest.param(
        sched(every(ANCHOR, hours=6), monthdays={1, 31}),
        utc(2027, 4, 1, 20),
        [utc(2027, 5, 1, 0), utc(2027, 5, 1, 6)],
        id="active-monthly-days",
    ),
    pytest.param(
        sched(weekly({1}, hm(23, 30)), tz=timezone(timedelta(hours=1)), weekdays={2}),
        utc(2027, 3, 1),
        [utc(2027, 3, 7, 23, 30), utc(2027, 3, 14, 23, 30)],
        id="limits-zone-moves-sunday-run-to-monday",
    ),
    pytest.param(
        sched(monthly({31}, hm(23)), tz=timezone(timedelta(hours=2)), months={4}),
        utc(2027, 1, 1),
        [utc(2027, 3, 31, 23), utc(2028, 3, 31, 23)],
        id="limits-zone-moves-march-31-into-april",
    ),
    pytest.param(
        Schedule(
            (
                DatesSource((utc(2027, 3, 1, 9), utc(2027, 3, 2, 9), utc(2026, 1, 1))),
                weekly({3}, hm(9)),
            )
        ),
        utc(2027, 3, 1, 9),
        [utc(2027, 3, 2, 9), utc(2027, 3, 9, 9), utc(2027, 3, 16, 9)],
        id="sources-are-ored-and-deduped",
    ),
    pytest.param(
        Schedule((DatesSource((utc(2027, 3, 1, 9, 0, 0, 700000), utc(2027, 3, 1, 9, 0, 0, 100))),)),
        utc(2027, 2, 1),
        [utc(2027, 3, 1, 9)],
        id="dates-to-the-second",
    ),
    pytest.param(
        Schedule((every(ANCHOR, hours=1),), remaining=2),
        utc(2027, 3, 1, 0, 30),
        [utc(2027, 3, 1, 1), utc(2027, 3, 1, 2)],
        id="remaining-caps-the-list",
    ),
    pytest.param(
        Schedule((every(ANCHOR, hours=1),), remaining=0),
        utc(2027, 3, 1),
        [],
        id="remaining-zero",
    ),
    pytest.param(
        Schedule((every(ANCHOR, hours=1),), enabled=False),
        utc(2027, 3, 1),
        [],
        id="disabled",
    ),
    pytest.param(Schedule(()), utc(2027, 3, 1), [], id="no-sources"),
    pytest.param(
        sched(every(ANCHOR, days=7), weekdays=EVERY_DAY, months=set(range(1, 13))),
        utc(2026, 12, 1),
        [utc(2027, 1, 8), utc(2027, 1, 15)],
        id="interval-starts-after-anchor",
    ),
]


@pytest.mark.parametrize(("schedule", "after", "expected"), CASES)
def test_run_times(schedule: Schedule, after: datetime, expected: list[datetime]) -> None:
    assert runs(schedule, after, count=len(expected)) == expected


IMPOSSIBLE = [
    pytest.param(sched(monthly({30}, hm(0)), months={2}), id="monthly-30-in-february"),
    pytest.param(sched(monthly({1}, hm(0)), monthdays={30}, months={2}), id="limits-feb-30"),
    pytest.param(
        sched(
            weekly({2}, hm(0)),
            monthdays={29},
            months={2},
            date_begin=date(2030, 1, 1),
            date_end=date(2031, 12, 31),
        ),
        id="monday-feb-29-in-2030-2031",
    ),
    pytest.param(
        sched(
            every(ANCHOR, hours=1),
            monthdays={29},
            months={2},
            weekdays={2},
            date_end=date(2040, 1, 1),
        ),
        id="interval-monday-feb-29-before-2040",
    ),
    pytest.param(sched(weekly({2}, hm(22)), window=(hm(8), hm(16))), id="time-outside-window"),
    pytest.param(
        sched(weekly({2}, hm(12), WEST), tz=EAST, window=(hm(8), hm(16))),
        id="time-outside-window-other-offset",
    ),
    pytest.param(
        sched(weekly({2}, hm(23, 30)), tz=timezone(timedelta(hours=1)), weekdays={2}),
        id="monday-run-is-tuesday-in-limits-zone",
    ),
    pytest.param(
        sched(every(utc(2027, 1, 1, 12), days=1), window=(hm(8), hm(9))),
        id="daily-interval-misses-window",
    ),
    pytest.param(
        Schedule((DatesSource((utc(2027, 1, 1), utc(2027, 2, 1))),)), id="all-dates-in-the-past"
    ),
    pytest.param(sched(every(ANCHOR, hours=1), date_end=date(2027, 2, 28)), id="date-range-over"),
]


@pytest.mark.parametrize("schedule", IMPOSSIBLE)
def test_impossible_schedules_have_no_run(schedule: Schedule) -> None:
    after = utc(2027, 3, 1)
    assert next_after(schedule, after=after) is None
    assert upcoming(schedule, after=after) == []


def test_next_at_or_after_is_inclusive_and_next_after_strict() -> None:
    schedule = sched(every(ANCHOR, hours=1))
    at = utc(2027, 3, 1, 5)
    assert next_at_or_after(schedule, at=at) == at
    assert next_after(schedule, after=at) == utc(2027, 3, 1, 6)


def test_fractions_of_a_second_round_to_the_next_whole_second() -> None:
    schedule = sched(every(ANCHOR, seconds=1))
    at = utc(2027, 3, 1, 5, 0, 0, 1)
    assert next_at_or_after(schedule, at=at) == utc(2027, 3, 1, 5, 0, 1)
    assert next_after(schedule, after=at) == utc(2027, 3, 1, 5, 0, 1)
    assert next_after(schedule, after=utc(2027, 3, 1, 5)) == utc(2027, 3, 1, 5, 0, 1)


def test_results_are_aware_utc_whole_seconds() -> None:
    schedule = sched(daily(hm(2, 30), EAST))
    after = datetime(2027, 3, 1, 12, tzinfo=WEST)
    for run in runs(schedule, after, 5):
        assert run.tzinfo is UTC
        assert run.microsecond == 0
        assert run > after


def test_upcoming_count() -> None:
    schedule = sched(every(ANCHOR, minutes=1))
    assert len(runs(schedule, utc(2027, 3, 1), 25)) == 25
    assert runs(schedule, utc(2027, 3, 1), 0) == []
    assert len(upcoming(schedule, after=utc(2027, 3, 1))) == 10


def test_limits_default_is_no_limit() -> None:
    assert Limits().unlimited
    assert not Limits(weekdays=frozenset({1})).unlimited


@pytest.mark.parametrize(
    "call",
    [
        lambda s, t: next_after(s, after=t),
        lambda s, t: next_at_or_after(s, at=t),
        lambda s, t: upcoming(s, after=t),
    ],
    ids=["next_after", "next_at_or_after", "upcoming"],
)
def test_naive_instants_are_refused(call: Callable[[Schedule, datetime], object]) -> None:
    with pytest.raises(ValueError, match="aware"):
        call(sched(every(ANCHOR, hours=1)), datetime(2027, 3, 1))


def test_negative_count_is_refused() -> None:
    with pytest.raises(ValueError, match="count"):
        upcoming(sched(every(ANCHOR, hours=1)), after=utc(2027, 3, 1), count=-1)


def test_far_future_ends_quietly() -> None:
    schedule = sched(every(ANCHOR, days=1))
    assert next_after(schedule, after=datetime(9999, 12, 31, tzinfo=UTC)) is None
    assert len(runs(schedule, datetime(9998, 12, 28, tzinfo=UTC), 10)) <= 3
