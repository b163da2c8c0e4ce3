"""upcoming() against a brute-force oracle written straight from docs/schedule.md.

The oracle shares no code with the engine: it lists every candidate of every source over a bounded
horizon (interval grid points; each local day's fixed time through zoneinfo, with the gap and fold
rule, on days picked by number or by place in the month, read with the calendar module; cron
minute by minute, tests/schedule/cron_oracle.py; the dates), moves each by its jitter (the hash
docs/schedule.md gives), keeps those an `allowed()` predicate of the limits accepts (excluded
dates, holidays and business days included), and sorts them. Hypothesis draws schedules, zones
and starting points, many near DST changes and month ends. The same oracle checks
count_between().
"""

from __future__ import annotations

import calendar
import hashlib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from akjob.schedule import (
    CronSource,
    DatesSource,
    Holidays,
    IntervalSource,
    Limits,
    MonthlySource,
    Schedule,
    WeeklySource,
    count_between,
    upcoming,
)
from tests.schedule.cron_oracle import cron_runs, local_days, wall_clock
from tests.schedule.helpers import CHATHAM, DENVER, EAST, LONDON, LORD_HOWE, WEST, offset_changes

IANA = [DENVER, LONDON, LORD_HOWE, CHATHAM]
FIXED = [UTC, WEST, EAST, timezone(timedelta(hours=1))]
HORIZON = timedelta(days=21)
COUNT = 5
CRONS = [
    "0 * * * *",
    "30 2 * * *",
    "0,30 1 * * *",
    "15 1-3 * * *",
    "0 */2 * * *",
    "45 1 * * 1-5",
    "0 0 29 2 *",
    "*/30 1 * * *",
    "0 12 1,15 * *",
    "42 * * * *",
    "*/15 16-23 * * *",
    "* 3 * * *",
    "30 6 * * 1-5",
    "0 0 1,15 * 5",
    "0 12 L * *",
    "0 18 * * 5L",
    "0 2 * * 1#1",
]
#: A fixed calendar of "holidays" for the tests: the 1st, 4th and 25th of some months, and
#: days on which daylight saving time changes.
HOLIDAYS = Holidays(
    "TEST",
    frozenset(
        {date(year, month, day) for year in range(2025, 2031) for month, day in [(1, 1), (7, 4)]}
        | {date(year, 12, 25) for year in range(2025, 2031)}
        | {date(2027, 3, 14), date(2027, 11, 7), date(2028, 3, 26), date(2027, 10, 3)}
    ),
)


CHANGES = [change for zone in IANA for change in offset_changes(zone)]


@dataclass
class Plan:
    """A schedule as plain values: the oracle reads these, the engine gets them as a Schedule."""

    dates: list[datetime] = field(default_factory=list)
    intervals: list[tuple[datetime, int]] = field(default_factory=list)
    # (days, at, tz, days before the last, (weekday, k) with k = -1 for the last)
    monthly: list[
        tuple[frozenset[int], time, tzinfo, frozenset[int], frozenset[tuple[int, int]]]
    ] = field(default_factory=list)
    weekly: list[tuple[frozenset[int], time, tzinfo]] = field(default_factory=list)
    crons: list[tuple[str, tzinfo]] = field(default_factory=list)
    tz: tzinfo = UTC
    window: tuple[time, time] | None = None
    weekdays: frozenset[int] | None = None
    monthdays: frozenset[int] | None = None
    months: frozenset[int] | None = None
    date_begin: date | None = None
    date_end: date | None = None
    exclude_dates: frozenset[date] = frozenset()
    holidays: Holidays | None = None
    business_days: bool = False
    remaining: int | None = None
    jitter: int = 0
    seed: str = ""

    def schedule(self) -> Schedule:
        sources: list = [DatesSource(tuple(self.dates))] if self.dates else []
        sources += [IntervalSource(a, timedelta(seconds=e)) for a, e in self.intervals]
        sources += [MonthlySource(*m) for m in self.monthly]
        sources += [WeeklySource(*w) for w in self.weekly]
        sources += [CronSource(expr, tz) for expr, tz in self.crons]
        limits = Limits(
            self.tz,
            self.window,
            self.weekdays,
            self.monthdays,
            self.months,
            self.date_begin,
            self.date_end,
            self.exclude_dates,
            self.holidays,
            self.business_days,
        )
        return Schedule(
            tuple(sources),
            limits,
            remaining=self.remaining,
            jitter=timedelta(seconds=self.jitter),
            seed=self.seed,
        )


# --- the oracle --------------------------------------------------------------------------


def picked(day: date, days: frozenset[int], from_last, nth) -> bool:
    """Whether a monthly source picks ``day``: by number, days before the last, k-th weekday."""
    length = calendar.monthrange(day.year, day.month)[1]
    if day.day in days or length - day.day in from_last:
        return True
    weekday = day.isoweekday() % 7 + 1
    k = (day.day - 1) // 7 + 1
    last = day.day + 7 > length
    return (weekday, k) in nth or (last and (weekday, -1) in nth)


def moved(plan: Plan, run: datetime) -> datetime:
    """A run time moved by its jitter: BLAKE2b (8 bytes) of "seed NUL POSIX seconds", modulo
    jitter + 1, as docs/schedule.md says."""
    if not plan.jitter:
        return run
    seconds = int(run.timestamp())
    digest = hashlib.blake2b(f"{plan.seed}\0{seconds}".encode(), digest_size=8).digest()
    return run + timedelta(seconds=int.from_bytes(digest, "big") % (plan.jitter + 1))


def candidates(plan: Plan, start: datetime, end: datetime) -> set[datetime]:
    """The occurrences in about [start, end], each moved by its jitter."""
    start = start - timedelta(seconds=plan.jitter)
    return {moved(plan, run) for run in occurrences(plan, start, end)}


def occurrences(plan: Plan, start: datetime, end: datetime) -> set[datetime]:
    found = {d.astimezone(UTC).replace(microsecond=0) for d in plan.dates}
    for local_anchor, step in plan.intervals:
        anchor = local_anchor.astimezone(UTC)  # aware arithmetic must run in UTC
        k = max(1, int((start - anchor).total_seconds()) // step)
        while (run := anchor + timedelta(seconds=k * step)) <= end:
            found.add(run)
            k += 1
    for days, at, tz, from_last, nth in plan.monthly:
        found |= {
            wall_clock(d, at, tz)
            for d in local_days(start, end, tz)
            if picked(d, days, from_last, nth)
        }
    for days, at, tz in plan.weekly:
        found |= {
            wall_clock(d, at, tz)
            for d in local_days(start, end, tz)
            if d.isoweekday() % 7 + 1 in days
        }
    for expr, tz in plan.crons:
        found.update(cron_runs(expr, tz, start, end))
    return found


def allowed(plan: Plan, instant: datetime) -> bool:
    local = instant.astimezone(plan.tz)
    day, clock = local.date(), local.time().replace(tzinfo=None)
    if plan.date_begin and day < plan.date_begin or plan.date_end and day > plan.date_end:
        return False
    if day in plan.exclude_dates or (plan.holidays and day in plan.holidays.dates):
        return False
    if plan.business_days and day.isoweekday() > 5:
        return False
    if plan.months and day.month not in plan.months:
        return False
    if plan.monthdays and day.day not in plan.monthdays:
        return False
    if plan.weekdays and day.isoweekday() % 7 + 1 not in plan.weekdays:
        return False
    if plan.window:
        begin, end = plan.window
        inside = begin <= clock <= end if begin <= end else clock >= begin or clock <= end
        if not inside:
            return False
    return True


def oracle(plan: Plan, after: datetime, end: datetime, count: int | None) -> list[datetime]:
    """The first ``count`` run times in (after, end] (None: all of them)."""
    if plan.remaining is not None:
        count = plan.remaining if count is None else min(count, plan.remaining)
    runs: list[datetime] = []
    for run in sorted(c for c in candidates(plan, after, end) if after < c <= end):
        if len(runs) == count:
            break
        if allowed(plan, run):
            runs.append(run)
    return runs


# --- strategies --------------------------------------------------------------------------

minutes = st.sampled_from([0, 15, 30, 45]) | st.integers(0, 59)
clock = st.builds(time, st.integers(0, 23) | st.integers(0, 3), minutes)
days_of_month = st.frozensets(
    st.integers(1, 31) | st.sampled_from([1, 15, 29, 30, 31]), min_size=1, max_size=6
)
weekdays = st.frozensets(st.integers(1, 7), min_size=1)
steps = st.sampled_from([900, 1800, 3600, 5400, 7200, 86400, 90000, 604800]) | st.integers(
    600, 3 * 86400
)


@st.composite
def instants(draw: st.DrawFn) -> datetime:
    kind = draw(st.integers(0, 3))
    if kind == 0:
        base = draw(st.sampled_from(CHANGES))
        moment = base + timedelta(seconds=draw(st.integers(-3 * 86400, 3 * 86400)))
    elif kind == 1:  # around a month's end
        month_start = datetime(draw(st.integers(2026, 2029)), draw(st.integers(1, 12)), 1)
        moment = month_start.replace(tzinfo=UTC) - timedelta(
            seconds=draw(st.integers(-86400, 8 * 86400))
        )
    else:
        seconds = draw(st.integers(0, 4 * 365 * 86400))
        moment = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds)
    if draw(st.booleans()):
        moment += timedelta(microseconds=draw(st.integers(0, 999_999)))
    return moment.astimezone(draw(st.sampled_from([UTC, DENVER, EAST])))


@st.composite
def plans(draw: st.DrawFn, after: datetime) -> Plan:
    # As the Django layer builds them: one zone for all, or separate fixed offsets (cron in
    # UTC); and, beyond that, any zone for any part.
    mode = draw(st.sampled_from(["one zone", "offsets", "mixed"]))
    shared = draw(st.sampled_from(IANA + FIXED))

    def zone() -> tzinfo:
        if mode == "one zone":
            return shared
        return draw(st.sampled_from(FIXED if mode == "offsets" else IANA + FIXED))

    plan = Plan(tz=zone())
    kinds = draw(st.sets(st.sampled_from(["dates", "every", "month", "week", "cron"]), min_size=1))
    near = st.integers(-2 * 86400, 30 * 86400)
    if "dates" in kinds:
        plan.dates = [after + timedelta(seconds=s) for s in draw(st.lists(near, max_size=4))]
    if "every" in kinds:
        anchor = after - timedelta(seconds=draw(st.integers(0, 3 * 86400)))
        plan.intervals.append((anchor.replace(microsecond=0), draw(steps)))
    if "month" in kinds:
        from_last = draw(st.frozensets(st.integers(0, 30) | st.integers(0, 3), max_size=2))
        nth = draw(st.frozensets(st.tuples(st.integers(1, 7), st.sampled_from([1, 2, 5, -1]))))
        days = draw(days_of_month) if draw(st.booleans()) or not (from_last or nth) else set()
        plan.monthly.append((frozenset(days), draw(clock), zone(), from_last, nth))
    if "week" in kinds:
        plan.weekly.append((draw(weekdays), draw(clock), zone()))
    if "cron" in kinds:
        plan.crons.append((draw(st.sampled_from(CRONS)), UTC if mode == "offsets" else zone()))
    draw_limits(draw, plan, after, ahead=20)
    if draw(st.integers(0, 4)) == 0:
        plan.remaining = draw(st.integers(0, COUNT))
    if draw(st.integers(0, 3)) == 0:
        plan.jitter = draw(st.sampled_from([1, 59, 600, 3600, 86400]) | st.integers(0, 7200))
        plan.seed = draw(st.sampled_from(["1", "42", "job-7"]))
    return plan


def draw_limits(draw: st.DrawFn, plan: Plan, after: datetime, ahead: int) -> None:
    """Limits of every kind, each often left out; a date range within ``ahead`` days."""
    if draw(st.booleans()):
        plan.window = (draw(clock), draw(clock))
    if draw(st.booleans()):
        plan.weekdays = draw(weekdays)
    if draw(st.integers(0, 3)) == 0:
        plan.monthdays = draw(st.frozensets(st.integers(1, 31), min_size=8))
    if draw(st.integers(0, 3)) == 0:
        plan.months = draw(st.frozensets(st.integers(1, 12), min_size=3))
    local = after.astimezone(plan.tz).date()
    if draw(st.integers(0, 2)) == 0:
        plan.date_begin = local + timedelta(days=draw(st.integers(-3, ahead)))
    if draw(st.integers(0, 2)) == 0:
        begin = plan.date_begin or local
        plan.date_end = begin + timedelta(days=draw(st.integers(0, ahead + 10)))
    if draw(st.integers(0, 3)) == 0:
        offsets = st.lists(st.integers(-3, ahead + 5), max_size=6)
        plan.exclude_dates = frozenset(local + timedelta(days=n) for n in draw(offsets))
    if draw(st.integers(0, 3)) == 0:
        plan.holidays = HOLIDAYS
    plan.business_days = draw(st.integers(0, 3)) == 0


@st.composite
def cases(draw: st.DrawFn) -> tuple[Plan, datetime]:
    after = draw(instants())
    return draw(plans(after)), after


@settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(cases())
def test_upcoming_matches_the_oracle(case: tuple[Plan, datetime]) -> None:
    plan, after = case
    end = after.astimezone(UTC) + HORIZON
    got = upcoming(plan.schedule(), after=after, count=COUNT)
    expected = oracle(plan, after, end, COUNT)
    # The engine may find runs past the oracle's horizon; up to there, both agree exactly.
    assert [run for run in got if run <= end] == expected


@settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(cases(), st.integers(0, 21 * 86400))
def test_count_between_matches_the_oracle(case: tuple[Plan, datetime], span: int) -> None:
    """count_between() over [start, end] is the number of run times the oracle lists there."""
    plan, after = case
    start = after.astimezone(UTC).replace(microsecond=0)
    end = start + timedelta(seconds=span)
    expected = oracle(plan, start - timedelta(seconds=1), end, None)
    assert count_between(plan.schedule(), start=start, end=end) == len(expected)
