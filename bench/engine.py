"""The schedule engine's speed: microseconds per next-run question, and per count after a gap.

    python bench/engine.py [--repeat 7]

Each figure is the median over ``--repeat`` timeit runs of the CPU time per call, each call asking
from one of a dozen starting instants spread over 2027 (so no single lucky path is measured).
Every call builds nothing: the Schedule is made once, as the Django layer's cached form would be
reused; the engine's own per-call work (compiling the limits, the search) is all in the figure.
The count rows time ``count_between`` over the 30 days after each starting instant.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time as time_module
import timeit
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from akjob.schedule import (  # noqa: E402
    CronSource,
    IntervalSource,
    Limits,
    MonthlySource,
    Schedule,
    WeeklySource,
    count_between,
    next_after,
    upcoming,
)

DENVER = ZoneInfo("America/Denver")
WEST = timezone(timedelta(hours=-7))
ANCHOR = datetime(2027, 1, 1, tzinfo=UTC)
STARTS = [
    datetime(2027, month, 3 + month, 7 * month % 24, 13, tzinfo=UTC) for month in range(1, 13)
]

LIMITED_INTERVAL = Schedule(
    (IntervalSource(ANCHOR, timedelta(minutes=15)),),
    Limits(tz=WEST, window=(time(8), time(16)), weekdays=frozenset(range(2, 7))),
)
MONTHLY = Schedule((MonthlySource(frozenset({1, 15}), time(1, 30), UTC),))
WEEKLY_DENVER = Schedule((WeeklySource(frozenset(range(2, 7)), time(22), DENVER),))
CRON_DENVER = Schedule((CronSource("0 * * * *", DENVER),))
FEB_29_HOURLY = Schedule(
    (IntervalSource(ANCHOR, timedelta(hours=1)),),
    Limits(monthdays=frozenset({29}), months=frozenset({2})),
)
IMPOSSIBLE = Schedule(
    (WeeklySource(frozenset({2}), time(0), UTC),),
    Limits(
        monthdays=frozenset({29}),
        months=frozenset({2}),
        date_begin=date(2030, 1, 1),
        date_end=date(2031, 12, 31),
    ),
)
IMPOSSIBLE_MONTHLY = Schedule(
    (MonthlySource(frozenset({30}), time(0), UTC),), Limits(months=frozenset({2}))
)
BERLIN = ZoneInfo("Europe/Berlin")
CRON_WORKDAYS = Schedule((CronSource("*/10 7-18 * * 1-5", BERLIN),))
CRON_MONTH_ENDS = Schedule((CronSource("0 12 31 1,3,5 *"),))
EVERY_SECOND = Schedule((IntervalSource(ANCHOR, timedelta(seconds=1)),))
EVERY_SECOND_LIMITED = Schedule(
    (IntervalSource(ANCHOR, timedelta(seconds=1)),),
    Limits(tz=BERLIN, window=(time(22), time(6)), weekdays=frozenset(range(2, 7))),
)
CRON_EVERY_MINUTE = Schedule((CronSource("* * * * *", BERLIN),))
WORKDAY = Limits(tz=BERLIN, window=(time(8), time(16)), weekdays=frozenset(range(2, 7)))
# Several busy sources: the run times they share are counted once.
INTERVAL_AND_CRON = Schedule(
    (IntervalSource(ANCHOR, timedelta(minutes=10)), CronSource("*/15 * * * *", BERLIN)), WORKDAY
)
THREE_SOURCES = Schedule(
    (
        IntervalSource(ANCHOR, timedelta(minutes=7)),
        CronSource("*/10 7-18 * * 1-5", BERLIN),
        WeeklySource(frozenset(range(2, 7)), time(9), BERLIN),
    ),
    WORKDAY,
)
TWO_CRONS = Schedule((CronSource("*/5 * * * *", BERLIN), CronSource("*/10 7-18 * * 1-5", DENVER)))
SECONDS_AND_MINUTES = Schedule(
    (IntervalSource(ANCHOR, timedelta(seconds=7)), CronSource("* * * * *", BERLIN))
)
#: The 30-day counts shown for "any schedule" (bench/peers/catchup.py shows them too).
GAP_SHAPES = [
    ("every second", EVERY_SECOND),
    ("every second, 22:00–06:00 Europe/Berlin, Mon–Fri", EVERY_SECOND_LIMITED),
    ("cron '* * * * *' Europe/Berlin", CRON_EVERY_MINUTE),
    ("cron '*/10 7-18 * * 1-5' Europe/Berlin", CRON_WORKDAYS),
    ("Mon–Fri 22:00 America/Denver", WEEKLY_DENVER),
    ("every 15 min, 08:00–16:00 UTC−07:00, Mon–Fri", LIMITED_INTERVAL),
    ("every 10 min + cron '*/15 * * * *', 08:00–16:00 Europe/Berlin, Mon–Fri", INTERVAL_AND_CRON),
    (
        "every 7 min + cron '*/10 7-18 * * 1-5' + Mon–Fri 09:00, 08:00–16:00 Europe/Berlin",
        THREE_SOURCES,
    ),
    ("cron '*/5 * * * *' Europe/Berlin + '*/10 7-18 * * 1-5' America/Denver", TWO_CRONS),
    ("every 7 s + cron '* * * * *' Europe/Berlin", SECONDS_AND_MINUTES),
]
MONTH = timedelta(days=30)


def per_call(call: Callable[[datetime], object], repeat: int, per: int = 1) -> float:
    """Median µs per call (divided by ``per`` results per call) over ``repeat`` runs."""

    def one_round() -> None:
        for start in STARTS:
            call(start)

    number = 20
    times = timeit.repeat(one_round, number=number, repeat=repeat, timer=time_module.process_time)
    return statistics.median(times) / (number * len(STARTS) * per) * 1e6


def rows(repeat: int) -> list[tuple[str, str, float, str]]:
    def nxt(schedule: Schedule) -> Callable[[datetime], object]:
        return lambda start: next_after(schedule, after=start)

    def ten(schedule: Schedule) -> Callable[[datetime], object]:
        return lambda start: upcoming(schedule, after=start, count=10)

    def month(schedule: Schedule) -> Callable[[datetime], object]:
        return lambda start: count_between(schedule, start=start, end=start + MONTH)

    return [
        (
            "every 15 min, 08:00–16:00 UTC−07:00, Mon–Fri",
            "next_after",
            per_call(nxt(LIMITED_INTERVAL), repeat),
            "≤ 30",
        ),
        (
            "every 15 min, 08:00–16:00 UTC−07:00, Mon–Fri",
            "upcoming(10), per run time",
            per_call(ten(LIMITED_INTERVAL), repeat, per=10),
            "< 1000",
        ),
        ("days 1, 15 at 01:30 UTC", "next_after", per_call(nxt(MONTHLY), repeat), "≤ 30"),
        (
            "Mon–Fri 22:00 America/Denver",
            "next_after",
            per_call(nxt(WEEKLY_DENVER), repeat),
            "≤ 30",
        ),
        (
            "Mon–Fri 22:00 America/Denver",
            "upcoming(10), per run time",
            per_call(ten(WEEKLY_DENVER), repeat, per=10),
            "< 1000",
        ),
        (
            "cron '0 * * * *' America/Denver",
            "next_after",
            per_call(nxt(CRON_DENVER), repeat),
            "≤ 30",
        ),
        (
            "cron '*/10 7-18 * * 1-5' Europe/Berlin",
            "next_after",
            per_call(nxt(CRON_WORKDAYS), repeat),
            "≤ 30",
        ),
        (
            "cron '0 12 31 1,3,5 *' UTC",
            "next_after",
            per_call(nxt(CRON_MONTH_ENDS), repeat),
            "≤ 30",
        ),
        (
            "hourly on Feb 29 (sparse)",
            "next_after",
            per_call(nxt(FEB_29_HOURLY), repeat),
            "< 100",
        ),
        (
            "Monday Feb 29 in 2030–2031 (impossible: None)",
            "next_after",
            per_call(nxt(IMPOSSIBLE), repeat),
            "< 5000",
        ),
        (
            "day 30 of February (impossible: None)",
            "next_after",
            per_call(nxt(IMPOSSIBLE_MONTHLY), repeat),
            "< 5000",
        ),
        *(
            (label, "count_between, 30 days", per_call(month(schedule), repeat), "< 1000")
            for label, schedule in GAP_SHAPES
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    assert next_after(IMPOSSIBLE, after=STARTS[0]) is None
    assert next_after(IMPOSSIBLE_MONTHLY, after=STARTS[0]) is None
    print(f"Python {sys.version.split()[0]}, median of {args.repeat} runs\n")
    print("| schedule | call | µs | target µs |")
    print("|---|---|---:|---:|")
    for schedule, call, micros, target in rows(args.repeat):
        print(f"| {schedule} | {call} | {micros:.1f} | {target} |")


if __name__ == "__main__":
    main()
