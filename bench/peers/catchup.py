"""Catching up: how many occurrences one job missed in a gap, µs per answer.

A daemon that was stopped (or a machine that slept) finds a job due since ``t`` and must count
the occurrences between ``t`` and now (akjob records them as missed or coalesced). akjob answers
with ``count_between``, by arithmetic; the peers walk from one run time to the next, as
APScheduler 3's ``Job._get_run_times`` does (``get_next_fire_time`` until now), cronsim and
croniter by iterating one object. Every count is checked against akjob's. The job is cron's
``*/10 7-18 * * 1-5`` in Europe/Berlin (given to akjob as that very expression), asked after
gaps of an hour, a day and 30 days from each of the starting instants of ``bench/engine.py``.

:func:`any_schedule` times akjob alone on the 30-day gap for every shape of
``bench/engine.py``'s ``GAP_SHAPES``: a source every second, limits, daylight saving time, and
several busy sources whose shared run times count once (no peer holds these as one job). Each
count is checked against akjob's own run times listed one by one (``upcoming``) for the first
starting instant.
"""

from __future__ import annotations

import statistics
import timeit
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from akjob.schedule import Schedule, count_between, next_at_or_after, upcoming
from bench.engine import GAP_SHAPES, MONTH, STARTS
from bench.peers.engine import CASES, CLOCK, SLOW_CALL, apscheduler_trigger

Count = Callable[[datetime, datetime], int]
JOB = next(case for case in CASES if case.key == "cron */10 7-18 * * 1-5")
GAPS = [("1 h", timedelta(hours=1)), ("1 day", timedelta(days=1)), ("30 days", timedelta(days=30))]


def akjob_count(start: datetime, end: datetime) -> int:
    return count_between(JOB.akjob, start=start, end=end)


def apscheduler_count(start: datetime, end: datetime) -> int:
    trigger = apscheduler_trigger(JOB)
    found, run = 0, trigger.get_next_fire_time(None, start)
    while run is not None and run <= end:
        found += 1
        run = trigger.get_next_fire_time(run, end)
    return found


def cronsim_count(start: datetime, end: datetime) -> int:
    from cronsim import CronSim

    found = 0
    for run in CronSim(JOB.cron, (start - timedelta(seconds=1)).astimezone(JOB.tz)):
        if run > end:
            return found
        found += 1
    return found


def croniter_count(start: datetime, end: datetime) -> int:
    from croniter import croniter

    walk = croniter(JOB.cron, (start - timedelta(seconds=1)).astimezone(JOB.tz))
    found = 0
    while walk.get_next(datetime) <= end:
        found += 1
    return found


COUNTERS: dict[str, Count] = {
    "akjob": akjob_count,
    "APScheduler 3": apscheduler_count,
    "cronsim": cronsim_count,
    "croniter": croniter_count,
}


def _time(count: Count, gap: timedelta, starts: list[datetime], repeat: int, budget: float):
    """Median µs per answer over ``repeat`` rounds (single calls when one is slow)."""
    pairs = [(start, start + gap) for start in starts]
    began = CLOCK()
    count(*pairs[0])
    first = CLOCK() - began
    if first <= SLOW_CALL:  # warm up before sizing the rounds (see bench.peers.engine)
        for pair in pairs:
            count(*pair)
        began = CLOCK()
        count(*pairs[0])
        first = CLOCK() - began
    if first > SLOW_CALL:
        singles = []
        for pair in pairs[1:4]:
            began = CLOCK()
            count(*pair)
            singles.append(CLOCK() - began)
        return statistics.median(singles) * 1e6

    def round_() -> None:
        for pair in pairs:
            count(*pair)

    number = max(1, int(budget / max(first * len(pairs), 1e-7)))
    times = timeit.repeat(round_, number=number, repeat=repeat, timer=CLOCK)
    return statistics.median(times) / (number * len(pairs)) * 1e6


def gaps(repeat: int, budget: float) -> list[dict[str, Any]]:
    """One row per gap: each counter's µs per answer, its status, and the counts found."""
    # Due at a run time, as a daemon finds a job: the gap starts at one.
    starts = [next_at_or_after(JOB.akjob, at=start) for start in STARTS]
    rows = []
    for label, gap in GAPS:
        expected = [akjob_count(s, s + gap) for s in starts]
        results = {}
        for name, count in COUNTERS.items():
            got = [count(s, s + gap) for s in starts]
            status = "ok" if got == expected else "differs"
            us = _time(count, gap, starts, repeat, budget)
            results[name] = {"status": status, "us": us, "counts": got}
        rows.append(
            {"gap": label, "job": JOB.label, "median_count": statistics.median(expected)}
            | {"results": results}
        )
    return rows


def listed(schedule: Schedule, start: datetime, end: datetime) -> int:
    """The run times in [start, end], listed a batch at a time (the check, not the timing)."""
    found, after = 0, start - timedelta(seconds=1)
    while True:
        runs = upcoming(schedule, after=after, count=10_000)
        inside = [run for run in runs if run <= end]
        found += len(inside)
        if len(inside) < len(runs) or not runs:
            return found
        after = runs[-1]


def any_schedule(repeat: int, budget: float) -> list[dict[str, Any]]:
    """akjob's µs to count a 30-day gap, for each shape of GAP_SHAPES."""
    rows = []
    for label, schedule in GAP_SHAPES:

        def count(start: datetime, end: datetime, schedule: Schedule = schedule) -> int:
            return count_between(schedule, start=start, end=end)

        counts = [count(s, s + MONTH) for s in STARTS]
        checked = counts[0] == listed(schedule, STARTS[0], STARTS[0] + MONTH)
        us = _time(count, MONTH, STARTS, repeat, budget)
        rows.append(
            {
                "label": label,
                "sources": len(schedule.sources),
                "median_count": statistics.median(counts),
                "us": us,
                "status": "ok" if checked else "differs",
            }
        )
    return rows
