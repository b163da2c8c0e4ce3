"""akjob's cron dialect, form by form, and its refusals (docs/schedule.md, "Cron")."""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo

import pytest

from akjob.schedule import CronSource, InvalidSchedule, Schedule, explain_empty, upcoming
from akjob.schedule.cronparse import parse_cron
from tests.schedule.helpers import CHATHAM, DENVER, LORD_HOWE, utc

FORMS = [
    # minute and hour: numbers, ranges, steps, lists
    ("7 * * * *", "minutes", {7}),
    ("*/15 * * * *", "minutes", {0, 15, 30, 45}),
    ("5/20 * * * *", "minutes", {5, 25, 45}),
    ("10-20/4 * * * *", "minutes", {10, 14, 18}),
    ("1,2,50-52 * * * *", "minutes", {1, 2, 50, 51, 52}),
    ("0 9-11 * * *", "hours", {9, 10, 11}),
    ("0 */8 * * *", "hours", {0, 8, 16}),
    ("0 1,13/5 * * *", "hours", {1, 13, 18, 23}),
    # months, by number or name, in any case
    ("0 0 1 jan-Mar,OCT *", "months", {1, 2, 3, 10}),
    ("0 0 1 */4 *", "months", {1, 5, 9}),
    # days of the week: 0 and 7 are Sunday; names
    ("0 0 * * 0", "weekdays", {0}),
    ("0 0 * * 7", "weekdays", {0}),
    ("0 0 * * 5-7", "weekdays", {5, 6, 0}),
    ("0 0 * * mon-fri", "weekdays", {1, 2, 3, 4, 5}),
    ("0 0 * * */2", "weekdays", {0, 2, 4, 6}),
    ("0 0 * * 5L", "last_weekdays", {5}),
    ("0 0 * * MON#2,fri#5", "nth_weekdays", {(1, 2), (5, 5)}),
    # days of the month
    ("0 0 1,15 * *", "days", {1, 15}),
    ("0 0 L * *", "last_day", True),
    ("0 0 LW * *", "last_weekday", True),
]


@pytest.mark.parametrize(("expr", "name", "expected"), FORMS, ids=[f[0] for f in FORMS])
def test_each_form_reads_as_documented(expr: str, name: str, expected: object) -> None:
    assert getattr(parse_cron(expr), name) == expected


def _runs(expr: str, after: datetime, count: int, tz: tzinfo = UTC) -> list[datetime]:
    source = CronSource(expr, tz)
    return upcoming(Schedule((source,)), after=after, count=count)


@pytest.mark.parametrize(
    ("expr", "after", "expected"),
    [
        (
            "*/10 7-18 * * 1-5",
            utc(2027, 1, 1, 18, 45),
            [utc(2027, 1, 1, 18, 50), utc(2027, 1, 4, 7)],
        ),
        ("0 12 31 1,3,5 *", utc(2027, 2, 1), [utc(2027, 3, 31, 12), utc(2027, 5, 31, 12)]),
        # Both day fields restricted: either one (1 May 2027 is a Saturday; Fridays are 7, 14…)
        ("0 0 1,15 * 5", utc(2027, 4, 30, 1), [utc(2027, 5, 1), utc(2027, 5, 7), utc(2027, 5, 14)]),
        # One day field starts with *: both must match (odd days that are Mondays)
        ("0 0 */2 * 1", utc(2027, 3, 1), [utc(2027, 3, 15), utc(2027, 3, 29)]),
        ("0 0 L 2 *", utc(2027, 1, 1), [utc(2027, 2, 28), utc(2028, 2, 29)]),
        # Last weekday: 31 July 2027 is a Saturday, 31 Oct 2027 a Sunday
        ("0 0 LW 7,10 *", utc(2027, 1, 1), [utc(2027, 7, 30), utc(2027, 10, 29)]),
        ("0 0 * 2 1#5", utc(2027, 1, 1), [utc(2044, 2, 29)]),
        ("0 0 * * 5L", utc(2027, 4, 1), [utc(2027, 4, 30), utc(2027, 5, 28)]),
        ("0 0 29 2 *", utc(2027, 1, 1), [utc(2028, 2, 29), utc(2032, 2, 29)]),
    ],
)
def test_run_times(expr: str, after: datetime, expected: list[datetime]) -> None:
    assert _runs(expr, after, len(expected)) == expected


@pytest.mark.parametrize(
    ("expr", "tz", "after", "expected"),
    [
        # Lord Howe moves 02:00 → 02:30 on 3 October 2027 (15:30 UTC on the 2nd): 02:42 exists.
        (
            "42 * * * *",
            LORD_HOWE,
            utc(2027, 10, 2, 15, 12),
            [utc(2027, 10, 2, 15, 42), utc(2027, 10, 2, 16, 42)],
        ),
        (
            "*/15 16-23 * * *",
            LORD_HOWE,
            utc(2027, 10, 2, 14),
            [utc(2027, 10, 3, 5), utc(2027, 10, 3, 5, 15)],
        ),
        # and 02:00 → 01:30 on 4 April 2027: nothing is lost at 04:00 that day.
        (
            "* 4,11,18,21 * * *",
            LORD_HOWE,
            utc(2027, 4, 3, 17, 29),
            [utc(2027, 4, 3, 17, 30), utc(2027, 4, 3, 17, 31)],
        ),
        # Chatham moves 02:45 → 03:45 on 26 September 2027 (14:00 UTC on the 25th).
        (
            "* 3 * * *",
            CHATHAM,
            utc(2027, 9, 25, 12),
            [utc(2027, 9, 25, 14), utc(2027, 9, 25, 14, 1)],
        ),
        # Fixed times in the 30-minute gap run once at its end; those after it at their time.
        (
            "15,45 2 * * *",
            LORD_HOWE,
            utc(2027, 10, 2, 12),
            [utc(2027, 10, 2, 15, 30), utc(2027, 10, 2, 15, 45), utc(2027, 10, 3, 15, 15)],
        ),
        # A repeated fixed time runs at its first pass only (Lord Howe repeats 01:30–01:59).
        (
            "45 1 * * *",
            LORD_HOWE,
            utc(2027, 4, 3, 12),
            [utc(2027, 4, 3, 14, 45), utc(2027, 4, 4, 15, 15)],
        ),
        # Real clock in the repeated half hour: both passes.
        (
            "*/20 1 * * *",
            LORD_HOWE,
            utc(2027, 4, 3, 14, 30),
            [utc(2027, 4, 3, 14, 40), utc(2027, 4, 3, 15, 10), utc(2027, 4, 4, 14, 30)],
        ),
        # Denver: a fixed time in the gap, asked exactly at the change, runs then.
        ("30 2 * * *", DENVER, utc(2027, 3, 14, 8, 59, 59), [utc(2027, 3, 14, 9)]),
    ],
)
def test_dst_in_every_kind_of_zone(
    expr: str, tz: tzinfo, after: datetime, expected: list[datetime]
) -> None:
    assert _runs(expr, after, len(expected), tz) == expected


@pytest.mark.parametrize(
    ("expr", "rule"),
    [
        ("* * * *", "five fields"),
        ("* * * * * *", "five fields"),
        ("60 * * * *", "minute 60 is outside 0–59"),
        ("0 24 * * *", "hour 24 is outside 0–23"),
        ("0 0 0 * *", "day of month 0 is outside 1–31"),
        ("0 0 * 13 *", "month 13 is outside 1–12"),
        ("0 0 * * 8", "day of week 8 is outside 0–7"),
        ("*/0 * * * *", "minute step '0'"),
        ("5-1 * * * *", "minute range 5-1 runs backwards"),
        ("1,,2 * * * *", "empty item"),
        ("x * * * *", "minute 'X' is not a number"),
        ("0 0 * foo *", "month 'FOO' is not a number or a name"),
        ("0 0 * * MON#6", "the number after # must be 1–5"),
        ("0 0 30 2 *", "day of month 30 never occurs in Feb"),
        ("0 0 31 4,6 *", "day of month 31 never occurs in Apr, Jun"),
        ("0 0 L/2 * *", "day of month 'L' is not a number"),
        ("0 0 * * L", "day of week '' is not a number"),
    ],
)
def test_bad_expressions_name_the_field_and_the_rule(expr: str, rule: str) -> None:
    with pytest.raises(InvalidSchedule) as caught:
        CronSource(expr)
    assert caught.value.field == "cron"
    assert rule in caught.value.rule


def test_a_day_that_never_exists_is_fine_when_either_day_field_may_match() -> None:
    # Both day fields restricted: Mondays in February run, the 30th never does.
    runs = _runs("0 0 30 2 1", utc(2027, 1, 1), 2)
    assert runs == [utc(2027, 2, 1), utc(2027, 2, 8)]


def test_a_day_rule_that_never_matches_answers_none_at_once() -> None:
    """1st or 31st of February that is its fifth Monday: valid, never runs, no 400-year walk."""
    schedule = Schedule((CronSource("0 0 */30 2 1#5"),))
    assert upcoming(schedule, after=utc(2027, 1, 1), count=1) == []
    assert explain_empty(schedule, after=utc(2027, 1, 1)) is not None
