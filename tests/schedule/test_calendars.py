"""Calendars as limits, places in the month as sources, cron's L-n, and jitter: tables of cases.

The randomized comparison with brute force for all of them is in tests/schedule/test_oracle.py;
here are the named cases (month ends, leap years, DST days, holidays from a fixed calendar), the
describe() wording, and the properties of jitter.
"""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, timedelta

import pytest

from akjob.schedule import (
    CronSource,
    Holidays,
    InvalidSchedule,
    Limits,
    MonthlySource,
    Schedule,
    count_between,
    describe,
    explain_empty,
    next_after,
    upcoming,
)
from akjob.schedule.jitter import offset
from tests.schedule.helpers import DENVER, calls_during, daily, hm, runs, utc

NEW_YORK_HOLIDAYS = Holidays(
    "US", frozenset({date(2027, 1, 1), date(2027, 1, 18), date(2027, 2, 15), date(2027, 5, 31)})
)


NINE = hm(9)


def positions(*, days=(), from_last=(), nth=(), at=NINE, tz=UTC) -> MonthlySource:
    return MonthlySource(frozenset(days), at, tz, frozenset(from_last), frozenset(nth))


def dates_of(schedule: Schedule, after: datetime, count: int = 6) -> list[date]:
    return [run.date() for run in runs(schedule, after, count)]


# -- places in the month ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "after", "expected"),
    [
        pytest.param(
            positions(from_last={0}),
            utc(2028, 1, 1),
            [date(2028, 1, 31), date(2028, 2, 29), date(2028, 3, 31), date(2028, 4, 30)],
            id="last-day-leap-february",
        ),
        pytest.param(
            positions(from_last={0}),
            utc(2027, 1, 31, 9),  # the run of 31 January itself is not after
            [date(2027, 2, 28), date(2027, 3, 31), date(2027, 4, 30), date(2027, 5, 31)],
            id="last-day-common-february",
        ),
        pytest.param(
            positions(from_last={3}),
            utc(2027, 1, 1),
            [date(2027, 1, 28), date(2027, 2, 25), date(2027, 3, 28), date(2027, 4, 27)],
            id="three-days-before-the-last",
        ),
        pytest.param(
            positions(nth={(2, 1)}),  # the first Monday
            utc(2027, 1, 1),
            [date(2027, 1, 4), date(2027, 2, 1), date(2027, 3, 1), date(2027, 4, 5)],
            id="first-monday",
        ),
        pytest.param(
            positions(nth={(6, -1)}),  # the last Friday
            utc(2027, 1, 1),
            [date(2027, 1, 29), date(2027, 2, 26), date(2027, 3, 26), date(2027, 4, 30)],
            id="last-friday",
        ),
        pytest.param(
            positions(nth={(2, 5)}),  # a fifth Monday, only in some months
            utc(2027, 1, 1),
            [date(2027, 3, 29), date(2027, 5, 31), date(2027, 8, 30), date(2027, 11, 29)],
            id="fifth-monday-skips-months-without-one",
        ),
        pytest.param(
            positions(days={1}, from_last={0}),
            utc(2027, 1, 1),
            [date(2027, 1, 1), date(2027, 1, 31), date(2027, 2, 1), date(2027, 2, 28)],
            id="first-and-last",
        ),
    ],
)
def test_places_in_the_month(source: MonthlySource, after: datetime, expected: list[date]) -> None:
    assert dates_of(Schedule((source,)), after, len(expected)) == expected


def test_last_day_on_a_dst_day_follows_the_gap_rule() -> None:
    # America/Denver springs forward on Sunday 14 March 2027 at 02:00; a last-Sunday-of-March
    # run at 02:30 in 2027 is on the 28th, but the second Sunday is the change day.
    source = positions(nth={(1, 2)}, at=hm(2, 30), tz=DENVER)
    assert runs(Schedule((source,)), utc(2027, 3, 1), 1) == [utc(2027, 3, 14, 9)]


def test_last_weekday_of_a_month_with_limits() -> None:
    # The last Friday that is also the 13th, on no Friday at all: nothing, and quickly.
    schedule = Schedule(
        (positions(nth={(6, -1)}),),
        Limits(monthdays=frozenset({13}), weekdays=frozenset({1, 2, 3, 4, 5, 7})),
    )
    found, calls = calls_during(lambda: next_after(schedule, after=utc(2027, 1, 1)))
    assert found is None
    assert calls < 5_000, calls  # not a search through the years day by day
    assert "allow no day" in explain_empty(schedule, after=utc(2027, 1, 1))


def test_last_friday_that_is_the_25th() -> None:
    schedule = Schedule((positions(nth={(6, -1)}),), Limits(monthdays=frozenset({25})))
    assert dates_of(schedule, utc(2027, 1, 1), 2) == [date(2027, 6, 25), date(2028, 2, 25)]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"from_last": {31}}, "month_positions"),
        ({"nth": {(8, 1)}}, "month_positions"),
        ({"nth": {(2, 6)}}, "month_positions"),
        ({"nth": {(2, 0)}}, "month_positions"),
        ({"nth": {"1#2"}}, "month_positions"),
        ({}, "monthly_days"),
    ],
)
def test_bad_places_are_refused(kwargs: dict, field: str) -> None:
    with pytest.raises(InvalidSchedule) as caught:
        positions(**kwargs)
    assert caught.value.field == field


# -- cron: L-n ----------------------------------------------------------------------------------


def brute_force_before_last(back: int, after: date, count: int) -> list[date]:
    found, day = [], after
    while len(found) < count:
        day += timedelta(days=1)
        if calendar.monthrange(day.year, day.month)[1] - day.day == back:
            found.append(day)
    return found


@pytest.mark.parametrize("back", [1, 2, 15, 27, 28, 30])
def test_cron_l_minus_n_is_n_days_before_the_last(back: int) -> None:
    schedule = Schedule((CronSource(f"0 9 L-{back} * *"),))
    got = dates_of(schedule, utc(2027, 12, 31, 10), 14)
    assert got == brute_force_before_last(back, date(2027, 12, 31), 14)
    same = Schedule((positions(from_last={back}),))
    assert dates_of(same, utc(2027, 12, 31, 10), 14) == got


def test_cron_l_minus_n_counts() -> None:
    schedule = Schedule((CronSource("0 9 L-1,L * *"),))
    assert count_between(schedule, start=utc(2027, 1, 1), end=utc(2028, 12, 31, 23)) == 48


@pytest.mark.parametrize("expr", ["0 9 L-0 * *", "0 9 L-31 * *", "0 9 L-x * *", "0 9 * * L-1"])
def test_bad_l_minus_n_is_refused(expr: str) -> None:
    with pytest.raises(InvalidSchedule) as caught:
        CronSource(expr)
    assert caught.value.field == "cron"


# -- calendars ----------------------------------------------------------------------------------


def test_business_days_skip_weekends_and_holidays() -> None:
    schedule = Schedule((daily(hm(7)),), Limits(business_days=True, holidays=NEW_YORK_HOLIDAYS))
    assert dates_of(schedule, utc(2026, 12, 30), 5) == [
        date(2026, 12, 30),
        date(2026, 12, 31),
        date(2027, 1, 4),  # 1 January is a holiday, 2 and 3 a weekend
        date(2027, 1, 5),
        date(2027, 1, 6),
    ]
    # January 2027 has 21 weekdays, 2 of them holidays.
    assert count_between(schedule, start=utc(2027, 1, 1), end=utc(2027, 1, 31, 23)) == 19


def test_excluded_dates_are_read_on_the_limits_wall_clock() -> None:
    # 23:30 Denver time on 5 May is 05:30 UTC on 6 May: the excluded date is Denver's.
    schedule = Schedule(
        (daily(hm(23, 30), DENVER),),
        Limits(tz=DENVER, exclude_dates=frozenset({date(2027, 5, 5)})),
    )
    got = [run.astimezone(DENVER).date() for run in runs(schedule, utc(2027, 5, 4, 12), 2)]
    assert got == [date(2027, 5, 4), date(2027, 5, 6)]


def test_excluding_a_dst_day() -> None:
    schedule = Schedule(
        (daily(hm(2, 30), DENVER),),
        Limits(tz=DENVER, exclude_dates=frozenset({date(2027, 3, 14)})),
    )
    assert runs(schedule, utc(2027, 3, 13, 12), 2) == [
        utc(2027, 3, 15, 8, 30),
        utc(2027, 3, 16, 8, 30),
    ]


def test_many_excluded_days_in_a_row() -> None:
    year = {date(2027, 1, 1) + timedelta(days=n) for n in range(365)}
    schedule = Schedule((daily(hm(7)),), Limits(exclude_dates=frozenset(year)))
    assert runs(schedule, utc(2026, 12, 31, 8), 1) == [utc(2028, 1, 1, 7)]
    assert count_between(schedule, start=utc(2026, 1, 1), end=utc(2028, 12, 31)) == 365 + 365


def test_business_days_with_saturday_only_allow_nothing() -> None:
    schedule = Schedule((daily(hm(7)),), Limits(business_days=True, weekdays=frozenset({7})))
    assert next_after(schedule, after=utc(2027, 1, 1)) is None


@pytest.mark.parametrize(
    ("limits", "field"),
    [
        ({"exclude_dates": {"2027-01-01"}}, "exclude_dates"),
        ({"exclude_dates": {datetime(2027, 1, 1, tzinfo=UTC)}}, "exclude_dates"),
        ({"holidays": {date(2027, 1, 1)}}, "holidays"),
        ({"business_days": 1}, "business_days_only"),
    ],
)
def test_bad_calendars_are_refused(limits: dict, field: str) -> None:
    with pytest.raises(InvalidSchedule) as caught:
        Limits(**limits)
    assert caught.value.field == field


# -- jitter -------------------------------------------------------------------------------------

JITTER = timedelta(minutes=10)


def jittered(seed: str = "job-1", **limits: object) -> Schedule:
    return Schedule((daily(hm(7)),), Limits(**limits), jitter=JITTER, seed=seed)  # type: ignore[arg-type]


def test_jitter_moves_each_run_by_a_fixed_amount_within_the_bound() -> None:
    got = runs(jittered(), utc(2027, 1, 1), 30)
    assert len(got) == 30
    for run in got:
        nominal = run.replace(hour=7, minute=0, second=0)
        assert timedelta(0) <= run - nominal <= JITTER
        assert run - nominal == timedelta(seconds=offset("job-1", int(nominal.timestamp()), 600))
    assert len({run - run.replace(hour=7, minute=0, second=0) for run in got}) > 10
    assert runs(jittered(), utc(2027, 1, 1), 30) == got  # the same every time


def test_jitter_differs_by_job() -> None:
    assert runs(jittered("job-1"), utc(2027, 1, 1), 5) != runs(
        jittered("job-2"), utc(2027, 1, 1), 5
    )


def test_jittered_times_are_answered_from_anywhere_before_them() -> None:
    got = runs(jittered(), utc(2027, 1, 1), 5)
    for run in got:
        assert next_after(jittered(), after=run - timedelta(seconds=1)) == run
        # After the nominal time but before the moved one, the moved one is still next.
        nominal = run.replace(minute=0, second=0)
        if nominal < run:
            assert next_after(jittered(), after=nominal) == run


def test_limits_apply_to_the_moved_time() -> None:
    # A window that closes at 07:05: only the runs moved by at most five minutes pass.
    schedule = jittered(window=(hm(6), hm(7, 5)))
    got = runs(schedule, utc(2027, 1, 1), 10)
    assert got and all(run.time() <= hm(7, 5) for run in got)
    every = runs(jittered(), utc(2027, 1, 1), 60)
    assert got == [run for run in every if run.time() <= hm(7, 5)][:10]


def test_jittered_runs_are_counted() -> None:
    got = runs(jittered(), utc(2027, 1, 1), 31)
    assert count_between(jittered(), start=got[0], end=got[-1]) == 31
    assert count_between(jittered(), start=got[0], end=got[-1], cap=7) == 7


def test_jitter_that_reorders_occurrences_lists_them_in_order() -> None:
    schedule = Schedule((CronSource("* * * * *"),), jitter=timedelta(minutes=5), seed="busy")
    got = upcoming(schedule, after=utc(2027, 1, 1), count=50)
    assert got == sorted(got) and len(set(got)) == len(got)


@pytest.mark.parametrize(
    "jitter", [timedelta(seconds=-1), timedelta(days=1, seconds=1), timedelta(milliseconds=5), 60]
)
def test_bad_jitter_is_refused(jitter: object) -> None:
    with pytest.raises(InvalidSchedule) as caught:
        Schedule((daily(hm(7)),), jitter=jitter)  # type: ignore[arg-type]
    assert caught.value.field == "jitter"


# -- in words -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("schedule", "words"),
    [
        (
            Schedule((positions(from_last={0}),)),
            "on the last day of the month at 09:00 UTC",
        ),
        (
            Schedule((positions(days={1}, from_last={2}, nth={(2, 1), (6, -1)}),)),
            "on day 1, 2 days before the last, the first Monday and the last Friday of the month"
            " at 09:00 UTC",
        ),
        (
            Schedule(
                (daily(hm(7)),),
                Limits(business_days=True, holidays=NEW_YORK_HOLIDAYS),
                jitter=JITTER,
            ),
            "every day at 07:00 UTC, business days only, not on US holidays,"
            " each moved by up to 10 minutes (jitter)",
        ),
        (
            Schedule((daily(hm(7)),), Limits(exclude_dates=frozenset({date(2027, 12, 24)}))),
            "every day at 07:00 UTC, not on 2027-12-24",
        ),
        (
            Schedule(
                (daily(hm(7)),),
                Limits(exclude_dates=frozenset(date(2027, 1, d) for d in range(1, 6))),
            ),
            "every day at 07:00 UTC, not on 5 excluded dates",
        ),
    ],
)
def test_describe(schedule: Schedule, words: str) -> None:
    assert describe(schedule) == words
