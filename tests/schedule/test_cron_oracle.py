"""The compiled cron against brute force, over random expressions, zones and instants.

Expressions are drawn from every form of the dialect; zones have every kind of change (a whole
hour, 30 minutes, at 02:45, at midnight, both hemispheres) and a fixed offset; instants are
mostly within a couple of days of a change. Three checks: the next run times against the
minute-by-minute oracle of tests/schedule/cron_oracle.py, the count of run times in a span
against the same oracle, and, in UTC where no daylight saving rule applies, against cronsim.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo

from cronsim import CronSim
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from akjob.schedule import CronSource, Schedule, count_between, next_after, upcoming
from tests.schedule.cron_oracle import cron_runs
from tests.schedule.helpers import offset_changes

ZONES: list[tzinfo] = [
    ZoneInfo("Europe/Berlin"),
    ZoneInfo("America/Denver"),
    ZoneInfo("Australia/Lord_Howe"),
    ZoneInfo("Pacific/Chatham"),
    ZoneInfo("Australia/Sydney"),
    ZoneInfo("America/Havana"),
]
FIXED: list[tzinfo] = [UTC, timezone(timedelta(hours=5, minutes=45))]
HORIZON = timedelta(days=2)
COUNT = 6
SETTINGS = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


ZONE_CHANGES = {zone: offset_changes(zone) for zone in ZONES}
CHANGES = [change for changes in ZONE_CHANGES.values() for change in changes]

# -- expressions ------------------------------------------------------------------------------


@st.composite
def plain(draw: st.DrawFn, low: int, high: int, near: tuple[int, int] | None = None) -> str:
    """One term of a numeric field: a number, a range, a step, ``*``."""
    value = st.integers(low, high)
    if near is not None:  # the values around daylight saving changes, more often
        value = st.integers(*near) | value
    a, b = sorted((draw(value), draw(value)))
    b = min(b + 1, high) if a == b else b  # cronsim reads "5-5/10" as "5/10"; akjob as "5"
    step = draw(st.integers(1, max(1, (high - low) // 2)))
    return draw(
        st.sampled_from([str(a), f"{a}-{b}", f"{a}-{b}/{step}", f"{a}/{step}", f"*/{step}"])
    )


def field(term: st.SearchStrategy[str], star: float = 0.25) -> st.SearchStrategy[str]:
    listed = st.lists(term, min_size=1, max_size=3).map(",".join)
    return st.one_of(st.just("*"), listed) if star else listed


MONTH_NAMES = ["JAN", "mar", "Jun", "OCT", "nov", "dec"]
DAY_NAMES = ["SUN", "mon", "Tue", "FRI", "sat"]
minutes = field(plain(0, 59, (0, 5)) | st.sampled_from(["0", "30", "42", "45", "*/15"]))
hours = field(plain(0, 23, (0, 4)) | st.sampled_from(["2", "3", "1-3", "*/2"]))
days_of_month = st.one_of(
    st.just("*"),
    field(plain(1, 31) | st.sampled_from(["L", "LW", "1", "15", "29", "31"]), star=0),
)
months = st.one_of(
    st.just("*"), field(plain(1, 12) | st.sampled_from(MONTH_NAMES + ["3", "9", "10"]), star=0)
)
weekday_terms = st.one_of(
    plain(0, 7),
    st.sampled_from(DAY_NAMES + ["mon-fri", "1-5"]),
    st.builds(
        lambda w, k: f"{w}#{k}", st.integers(0, 7) | st.sampled_from(DAY_NAMES), st.integers(1, 5)
    ),
    st.builds(lambda w: f"{w}L", st.integers(0, 7)),
)
weekdays = st.one_of(st.just("*"), field(weekday_terms, star=0))


@st.composite
def expressions(draw: st.DrawFn) -> str:
    expr = " ".join(draw(f) for f in (minutes, hours, days_of_month, months, weekdays))
    try:  # a day that never exists ("0 0 30 2 *") is refused by both readers: draw another
        CronSim(expr, datetime(2000, 1, 1, tzinfo=UTC))
    except Exception:  # noqa: BLE001 - cronsim's own refusals
        return "0 * * * *"
    return expr


@st.composite
def instants(draw: st.DrawFn) -> datetime:
    if draw(st.integers(0, 3)):
        base = draw(st.sampled_from(CHANGES))
        close = (
            st.sampled_from([-1, 0, 1])  # at the change, or a query right before it
            | st.integers(0, 3600)  # in the repeated hour's second pass, or just after a gap
            | st.integers(-3 * 3600, 3600)
            | st.integers(-2 * 86400, 86400)
        )
        moment = base + timedelta(seconds=draw(close))
    else:
        moment = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(
            seconds=draw(st.integers(0, 3 * 365 * 86400))
        )
    if draw(st.booleans()):
        moment = moment.replace(second=0)  # a run time itself, often
    return moment


zones = st.sampled_from(ZONES + FIXED)

# -- the checks -------------------------------------------------------------------------------


@SETTINGS
@given(expressions(), zones, instants())
def test_next_runs_match_brute_force(expr: str, tz: tzinfo, after: datetime) -> None:
    end = after + HORIZON
    got = upcoming(Schedule((CronSource(expr, tz),)), after=after, count=COUNT)
    expected = [run for run in cron_runs(expr, tz, after, end) if run > after][:COUNT]
    assert [run for run in got if run <= end] == expected


@SETTINGS
@given(expressions(), zones, instants(), st.integers(0, 2 * 86400))
def test_count_matches_brute_force(expr: str, tz: tzinfo, start: datetime, span: int) -> None:
    end = start + timedelta(seconds=span)
    schedule = Schedule((CronSource(expr, tz),))
    assert count_between(schedule, start=start, end=end) == len(cron_runs(expr, tz, start, end))


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(expressions(), instants())
def test_utc_matches_cronsim(expr: str, after: datetime) -> None:
    schedule = Schedule((CronSource(expr, UTC),))
    expected = []
    for run in CronSim(expr, after):
        expected.append(run)
        if len(expected) == 3:
            break
    assert upcoming(schedule, after=after, count=len(expected)) == expected
    assert next_after(schedule, after=expected[-1]) is not None


@st.composite
def fixed_times_at_changes(draw: st.DrawFn) -> tuple[str, tzinfo, datetime]:
    """A fixed-time expression with times in a zone's gap or repeated hour, and an instant at,
    just before or just after that change (where the fixed-time rules act)."""
    zone = draw(st.sampled_from(ZONES))
    change = draw(st.sampled_from(ZONE_CHANGES[zone]))
    around = {(change + timedelta(minutes=m)).astimezone(zone).hour for m in (-61, -1, 0, 60)}
    hours = draw(st.lists(st.sampled_from(sorted(around)), min_size=1, max_size=3, unique=True))
    minutes = draw(st.lists(st.integers(0, 59) | st.sampled_from([0, 15, 30, 45]), min_size=1))
    expr = f"{','.join(map(str, minutes))} {','.join(map(str, hours))} * * *"
    delta = draw(st.sampled_from([-1, 0, 1, 59]) | st.integers(-2 * 3600, 2 * 3600))
    return expr, zone, change + timedelta(seconds=delta)


@SETTINGS
@given(fixed_times_at_changes())
def test_fixed_times_at_changes_match_brute_force(case: tuple[str, tzinfo, datetime]) -> None:
    expr, tz, after = case
    end = after + HORIZON
    schedule = Schedule((CronSource(expr, tz),))
    expected = cron_runs(expr, tz, after, end)
    assert [run for run in upcoming(schedule, after=after, count=COUNT) if run <= end] == [
        run for run in expected if run > after
    ][:COUNT]
    assert count_between(schedule, start=after, end=end) == len(expected)
