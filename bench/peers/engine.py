"""Next run time, µs per call: akjob's engine beside APScheduler 3, cronsim, celery and croniter.

Each implementation answers "the first run time strictly after t" for the dozen starting instants
of ``bench/engine.py`` (CPU time: :data:`CLOCK`); every answer is checked against akjob's, so a
row compares like with like.
The peers get the cron expression nearest to akjob's schedule; the limited schedule's date range,
which no cron expression holds, is applied by a filter around the peer's answer. The cron rows
give akjob the same expression (a ``CronSource``). Where both day fields are restricted, cron
runs on a day matching either; APScheduler and celery match both, so APScheduler gets an
``OrTrigger`` of the two, as its users write it, and celery's answer differs (≠).

The catch-up rows (:mod:`bench.peers.catchup`) count the occurrences one job missed in a gap.
"""

from __future__ import annotations

import argparse
import statistics
import time
import timeit
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from datetime import time as wall
from typing import Any
from zoneinfo import ZoneInfo

from akjob.schedule import CronSource, IntervalSource, Limits, Schedule, next_after
from bench.engine import (
    ANCHOR,
    DENVER,
    FEB_29_HOURLY,
    IMPOSSIBLE_MONTHLY,
    MONTHLY,
    STARTS,
    WEEKLY_DENVER,
)
from bench.peers.common import emit

Next = Callable[[datetime], datetime | None]
WEEKDAYS = frozenset(range(2, 7))  # akjob numbers days 1 = Sunday … 7 = Saturday
QUARTER = timedelta(minutes=15)
SLOW_CALL = 0.02  # seconds: beyond this, a few single calls are timed instead of rounds
#: Every figure is the CPU time of this process (not the wall clock), so that other work on a
#: shared machine does not inflate one row and not the next.
CLOCK = time.process_time


@dataclass(frozen=True)
class Case:
    """One schedule: akjob's form, and the cron fields the peers get."""

    key: str
    label: str
    akjob: Schedule
    cron: str  # minute hour day month day-of-week, as cronsim and croniter read it
    tz: tzinfo = UTC
    begin: date | None = None  # date range the peers' answers are filtered by
    end: date | None = None
    note: str = ""
    fields: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        minute, hour, day, month, dow = self.cron.split()
        fields = {"minute": minute, "hour": hour, "day": day, "month": month}
        object.__setattr__(self, "fields", fields | {"day_of_week": weekday_names(dow)})

    @property
    def either_day(self) -> bool:
        """Both day fields restricted: cron runs on a day that matches either."""
        return self.fields["day"] != "*" and self.fields["day_of_week"] != "*"


DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")


def weekday_names(field: str) -> str:
    """A cron day-of-week field by names: APScheduler numbers Monday 0, cron Sunday 0."""
    if field == "*":
        return field
    terms = [term.split("-") for term in field.split(",")]
    return ",".join("-".join(DAY_NAMES[int(n)] if n.isdigit() else n for n in t) for t in terms)


def _cron(expr: str, tz: tzinfo = UTC) -> Schedule:
    return Schedule((CronSource(expr, tz),))


def _window_15(**limits: Any) -> Schedule:
    return Schedule(
        (IntervalSource(ANCHOR, QUARTER),),
        Limits(window=(wall(8), wall(15, 45)), weekdays=WEEKDAYS, **limits),
    )


CASES = [
    Case(
        "window",
        "every 15 min, 08–16 h, Mon–Fri",
        _window_15(),
        "*/15 8-15 * * 1-5",
        note="akjob: interval 15 min, window 08:00–15:45 (inclusive), weekdays",
    ),
    Case("monthly", "1st and 15th at 01:30", MONTHLY, "30 1 1,15 * *"),
    Case("denver", "Mon–Fri 22:00 America/Denver", WEEKLY_DENVER, "0 22 * * 1-5", DENVER),
    Case(
        "limited",
        "every 15 min, 08–16 h, Mon–Fri, Mar–Oct, within 2027",
        _window_15(
            months=frozenset(range(3, 11)), date_begin=date(2027, 1, 1), date_end=date(2027, 12, 31)
        ),
        "*/15 8-15 * 3-10 1-5",
        begin=date(2027, 1, 1),
        end=date(2027, 12, 31),
        note="peers: the cron expression, then the date range applied to its answer",
    ),
    Case("sparse", "hourly on Feb 29 (sparse)", FEB_29_HOURLY, "0 * 29 2 *"),
    Case("impossible", "Feb 30 (impossible)", IMPOSSIBLE_MONTHLY, "0 0 30 2 *"),
]
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
#: Cron as users write it: every row gives akjob the very expression the peers get.
CRON = [
    ("*/10 7-18 * * 1-5", BERLIN, "steps and ranges, workdays"),
    ("0 12 31 1,3,5 *", UTC, "month ends"),
    ("30 6 * * 1-5", NEW_YORK, "workday mornings"),
    ("0 0 1,15 * 5", UTC, "day of month or day of week"),
    ("15 2 * * *", BERLIN, "a time the spring change skips"),
    ("0 */4 * * *", UTC, "every 4 hours"),
    ("0 9 * 1-3,10-12 mon-fri", NEW_YORK, "winter workdays, names"),
]
CASES += [
    Case(
        f"cron {expr}",
        f"cron `{expr}`{'' if tz is UTC else f' {tz}'}",
        _cron(expr, tz),
        expr,
        tz,
        note=note,
    )
    for expr, tz, note in CRON
]
CRON_KEYS = [f"cron {expr}" for expr, _, _ in CRON]


class NoDate(Exception):
    """The peer searched and reported that no run time exists."""


# -- the implementations: each builds, once per case, a function from t to the next run -------


def akjob_next(case: Case) -> Next:
    return lambda after: next_after(case.akjob, after=after)


def apscheduler_trigger(case: Case) -> Any:
    from apscheduler.triggers.combining import OrTrigger
    from apscheduler.triggers.cron import CronTrigger

    if not case.either_day:
        return CronTrigger(**case.fields, timezone=case.tz)
    by_date = case.fields | {"day_of_week": "*"}
    by_weekday = case.fields | {"day": "*"}
    return OrTrigger(
        [CronTrigger(**by_date, timezone=case.tz), CronTrigger(**by_weekday, timezone=case.tz)]
    )


def apscheduler_next(case: Case) -> Next:
    trigger = apscheduler_trigger(case)
    return lambda after: trigger.get_next_fire_time(None, after)


def cronsim_next(case: Case) -> Next:
    from cronsim import CronSim

    CronSim(case.cron, datetime(2027, 1, 1, tzinfo=case.tz))  # refusals happen here
    # CronSim is an iterator from its start: a new start means a new object.
    return lambda after: next(CronSim(case.cron, after.astimezone(case.tz)))


def celery_next(case: Case) -> Next:
    from celery.schedules import crontab

    f = case.fields
    cron = crontab(
        minute=f["minute"],
        hour=f["hour"],
        day_of_week=f["day_of_week"],
        day_of_month=f["day"],
        month_of_year=f["month"],
    )

    def call(after: datetime) -> datetime:
        last, delta, _ = cron.remaining_delta(after, tz=case.tz)
        return last + delta

    return call


def croniter_next(case: Case) -> Next:
    from croniter import CroniterBadDateError, croniter

    croniter(case.cron, datetime(2027, 1, 1, tzinfo=case.tz))

    def call(after: datetime) -> datetime | None:
        try:
            return croniter(case.cron, after.astimezone(case.tz)).get_next(datetime)
        except CroniterBadDateError as exc:
            raise NoDate(str(exc)) from exc

    return call


IMPLEMENTATIONS: dict[str, Callable[[Case], Next]] = {
    "akjob": akjob_next,
    "APScheduler 3": apscheduler_next,
    "cronsim": cronsim_next,
    "celery crontab": celery_next,
    "croniter": croniter_next,
}


def within_range(nxt: Next, case: Case) -> Next:
    """The peer's answer, kept only inside the case's date range (the manual filter)."""
    if case.begin is None or case.end is None:
        return nxt
    low = datetime.combine(case.begin, wall(), case.tz) - timedelta(seconds=1)
    high = datetime.combine(case.end + timedelta(days=1), wall(), case.tz)

    def call(after: datetime) -> datetime | None:
        found = nxt(max(after, low))
        return found if found is not None and found < high else None

    return call


# -- measuring ----------------------------------------------------------------------------------


def _answer(nxt: Next, after: datetime) -> datetime | str | None:
    try:
        found = nxt(after)
    except NoDate:
        return "no date"
    return found.astimezone(UTC) if found is not None else None


def per_call_us(nxt: Next, repeat: int, budget: float) -> tuple[float, str]:
    """Median µs per call over ``repeat`` rounds of the starting instants (or, for a call slower
    than SLOW_CALL, the median of three single calls), and a note on how it was timed."""

    def one(after: datetime) -> None:
        try:
            nxt(after)
        except NoDate:
            pass

    start = CLOCK()
    one(STARTS[0])
    first = CLOCK() - start
    if first <= SLOW_CALL:
        # Warm up (caches, and the interpreter's own specialising of hot code) before sizing
        # the rounds, so that the first schedule measured is not timed cold.
        for after in STARTS:
            one(after)
        start = CLOCK()
        one(STARTS[0])
        first = CLOCK() - start
    if first > SLOW_CALL:
        singles = []
        for after in STARTS[1:4]:
            start = CLOCK()
            one(after)
            singles.append(CLOCK() - start)
        return statistics.median(singles) * 1e6, "median of 3 single calls"

    def round_() -> None:
        for after in STARTS:
            one(after)

    number = max(1, int(budget / max(first * len(STARTS), 1e-7)))
    times = timeit.repeat(round_, number=number, repeat=repeat, timer=CLOCK)
    return statistics.median(times) / (number * len(STARTS)) * 1e6, ""


def measure(case: Case, name: str, repeat: int, budget: float) -> dict[str, Any]:
    make = IMPLEMENTATIONS[name]
    start = CLOCK()
    try:
        nxt = make(case)
    except Exception as exc:  # noqa: BLE001 - a refusal at construction is an answer here
        refused_us = (CLOCK() - start) * 1e6
        return {"status": "refused", "us": refused_us, "note": f"{type(exc).__name__}: {exc}"}
    if name != "akjob":
        nxt = within_range(nxt, case)
    expected = [_answer(akjob_next(case), after) for after in STARTS]
    got = [_answer(nxt, after) for after in STARTS]
    status = "ok"
    note = ""
    same = [None if answer == "no date" else answer for answer in got]
    if same != expected:
        wrong = next(i for i, (a, b) in enumerate(zip(same, expected, strict=True)) if a != b)
        status = "differs"
        note = f"after {STARTS[wrong]}: {got[wrong]} where akjob says {expected[wrong]}"
    elif all(answer is None for answer in got):
        status = "none"
    elif all(answer == "no date" for answer in got):
        status = "no date"
    us, how = per_call_us(nxt, repeat, budget)
    return {"status": status, "us": us, "note": "; ".join(filter(None, [note, how]))}


def run(repeat: int, budget: float) -> list[dict[str, Any]]:
    rows = []
    for case in CASES:
        results = {name: measure(case, name, repeat, budget) for name in IMPLEMENTATIONS}
        rows.append(
            {
                "key": case.key,
                "label": case.label,
                "cron": case.cron,
                "tz": str(case.tz),
                "note": case.note,
                "results": results,
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--budget", type=float, default=0.05, help="seconds per timed round")
    args = parser.parse_args()
    from bench.peers.catchup import any_schedule, gaps

    emit(
        {
            "rows": run(args.repeat, args.budget),
            "gaps": gaps(args.repeat, args.budget),
            "any_gap": any_schedule(args.repeat, args.budget),
        }
    )


if __name__ == "__main__":
    main()
