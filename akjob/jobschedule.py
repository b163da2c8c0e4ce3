"""Turning a :class:`~akjob.models.Job` into a :class:`~akjob.schedule.Schedule`, and validation.

The schedule engine is pure; this module is the one place where model fields meet it. Every rule
on stored values (docs/schedule.md, docs/api.md) is checked here and reported as a
``ValidationError`` keyed by the model field it is about.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.core.exceptions import ValidationError

from akjob import calendars
from akjob import schedule as engine
from akjob.conf import akjob_settings
from akjob.daysets import current_sets
from akjob.text import duration
from akjob.timeutil import to_aware, truncate, utcnow

if TYPE_CHECKING:
    from akjob.models import Job

OFFSET_FIELDS = (
    "monthly_time_tz_offset_timedelta",
    "weekly_time_tz_offset_timedelta",
    "active_time_tz_offset_timedelta",
)
DAY = timedelta(hours=24)
NO_CODE = "it has no code object (job_code_object is not set): there is nothing to run"
# The longest run_every, timeout, misfire_grace or alert_after: longer ones are mistakes, and
# overflow what some databases store for a duration (a 64-bit count of microseconds, about
# 292,000 years).
LONGEST = timedelta(days=36500)
DURATIONS = ("run_every", "timeout", "misfire_grace", "alert_after")
#: The longest jitter (the engine's bound, docs/schedule.md).
LONGEST_JITTER = timedelta(days=1)


def check_datetime(field: str, value: Any) -> datetime:
    """A datetime for ``field``; naive values are refused while USE_TZ is on."""
    if not isinstance(value, datetime):
        raise ValidationError({field: [f"{value!r} is not a datetime"]})
    if settings.USE_TZ and value.tzinfo is None:
        raise ValidationError(
            {field: [f"{value} is a naive datetime while USE_TZ is on; give it a time zone"]}
        )
    return value


def _zone(job: Job) -> tzinfo | None:
    if not job.timezone:
        return None
    try:
        return ZoneInfo(job.timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationError(
            {"timezone": [f"{job.timezone!r} is not a known IANA time zone"]}
        ) from exc


def _offset(job: Job, field: str) -> timezone:
    value = getattr(job, field)
    if value is None:
        value = timedelta(0)
    if not isinstance(value, timedelta) or abs(value) >= DAY:
        raise ValidationError({field: [f"{value} is not an offset strictly within ±24 hours"]})
    return timezone(value) if value else UTC


def _zones(job: Job) -> dict[str, tzinfo]:
    """The zone each part of the schedule is read in: the job's IANA zone; without one, each
    offset field that is set, and ``AKJOB_DEFAULT_TIMEZONE`` for the parts left at zero."""
    errors: dict[str, list[str]] = {}
    offsets: dict[str, tzinfo] = {}
    for field in OFFSET_FIELDS:
        try:
            offsets[field] = _offset(job, field)
        except ValidationError as exc:
            errors.update(exc.message_dict)
    zone = _zone(job)
    if zone is not None:
        for field in OFFSET_FIELDS:
            if getattr(job, field):
                errors[field] = [
                    f"must be zero when timezone is set (the time zone {job.timezone} "
                    "already gives the offset, with daylight saving time)"
                ]
    if errors:
        raise ValidationError(errors)
    if zone is not None:
        return dict.fromkeys([*OFFSET_FIELDS, "cron"], zone)
    default = akjob_settings.default_timezone
    zones = {field: offsets[field] if getattr(job, field) else default for field in OFFSET_FIELDS}
    return zones | {"cron": default}


def job_zone(job: Job) -> tzinfo:
    """The zone the job's times are shown in: its own, else ``AKJOB_DEFAULT_TIMEZONE``."""
    try:
        zone = _zone(job)
    except ValidationError:
        zone = None
    return zone if zone is not None else akjob_settings.default_timezone


def _pair(job: Job, days_field: str, time_field: str, days: list[int] | bool) -> None:
    at = getattr(job, time_field)
    if days and at is None:
        raise ValidationError({time_field: [f"{days_field} are set, so {time_field} is required"]})
    if at is not None and not days:
        needed = days_field + (" or month_positions" if days_field == "monthly_days" else "")
        raise ValidationError({days_field: [f"{time_field} is set, so {needed} are required"]})


def _monthly(job: Job, days: list[int], tz: tzinfo) -> engine.MonthlySource | None:
    from_last, nth = calendars.parse_positions(job.month_positions)
    _pair(job, "monthly_days", "monthly_time", bool(days or from_last or nth))
    if not (days or from_last or nth):
        return None
    return engine.MonthlySource(frozenset(days), job.monthly_time, tz, from_last, nth)


def to_schedule(job: Job, *, now: datetime | None = None) -> engine.Schedule:
    """The job's schedule. Raises ``ValidationError`` (keyed by model field) for bad values."""
    zones = _zones(job)
    sources: list[Any] = []
    dates = [to_aware(check_datetime("dates", d)) for d in job.dates_list]
    if dates:
        sources.append(engine.DatesSource(tuple(dates)))
    if job.run_every is not None:
        anchor = to_aware(job._last_interval)
        if anchor is None:
            from akjob.models import interval_anchor

            if job.first_run_at is not None:
                check_datetime("first_run_at", job.first_run_at)
            anchor = interval_anchor(job, truncate(now or utcnow()))
        sources.append(engine.IntervalSource(anchor, job.run_every))
    weekly = job.weekly_days_list
    monthly = _monthly(job, job.monthly_days_list, zones["monthly_time_tz_offset_timedelta"])
    _pair(job, "weekly_days", "weekly_time", weekly)
    if monthly is not None:
        sources.append(monthly)
    if weekly:
        tz = zones["weekly_time_tz_offset_timedelta"]
        sources.append(engine.WeeklySource(frozenset(weekly), job.weekly_time, tz))
    if job.cron:
        sources.append(engine.CronSource(job.cron.strip(), zones["cron"]))
    window = None
    if job.active_time_begin is not None or job.active_time_end is not None:
        window = (job.active_time_begin, job.active_time_end)
    limits = engine.Limits(
        tz=zones["active_time_tz_offset_timedelta"],
        window=window,
        weekdays=frozenset(job.active_weekly_days_list) or None,
        monthdays=frozenset(job.active_monthly_days_list) or None,
        months=frozenset(job.active_months_list) or None,
        date_begin=_date("active_date_begin", job.active_date_begin),
        date_end=_date("active_date_end", job.active_date_end),
        exclude_dates=frozenset(calendars.parse_dates(job.exclude_dates)),
        holidays=calendars.holiday_calendar(job.holidays, (now or utcnow()).year),
        business_days=bool(job.business_days_only),
    )
    remaining = None
    if job.run_count_limit is not None:
        remaining = max(job.run_count_limit - (job._run_count or 0), 0)
    jitter = job.jitter or timedelta(0)
    return engine.Schedule(
        tuple(sources),
        limits,
        enabled=job.job_enabled,
        remaining=remaining,
        jitter=jitter,
        seed=jitter_seed(job) if jitter else "",
    )


def jitter_seed(job: Job) -> str:
    """What fixes a job's jitter, with each occurrence: its id (none before it is saved)."""
    return "" if job.pk is None else str(job.pk)


def schedule_inputs(job: Job) -> tuple[Any, ...]:
    """Every value of the job that :func:`to_schedule` reads (the run count only under a run
    count limit, the interval anchor only with an interval, as it does); ``now`` and the
    settings apart, the same for every job of a wake-up. Jobs with equal inputs have equal
    schedules: akjobd decides once for the jobs of a wake-up that share them (see
    docs/benchmarks.md). Keep it in step with to_schedule; a test checks that the two read the
    same fields."""
    interval = job.run_every
    limit = job.run_count_limit
    dates, monthly, weekly, active_monthly, active_weekly, active_months = current_sets(job)
    return (
        job.timezone,
        *(getattr(job, field) for field in OFFSET_FIELDS),
        dates,
        interval,
        job._last_interval if interval is not None else None,
        job.first_run_at if interval is not None and job._last_interval is None else None,
        monthly,
        weekly,
        job.monthly_time,
        job.weekly_time,
        job.cron,
        job.active_time_begin,
        job.active_time_end,
        active_weekly,
        active_monthly,
        active_months,
        job.active_date_begin,
        job.active_date_end,
        job.month_positions,
        job.exclude_dates,
        job.holidays,
        job.business_days_only,
        job.jitter,
        jitter_seed(job) if job.jitter else None,
        limit,
        job._run_count if limit is not None else None,
        job.job_enabled,
    )


#: Where the interval's anchor is among the values of :func:`schedule_inputs`.
ANCHOR_INPUT = 6


def build_sharing(
    job: Job, *, now: datetime, inputs: tuple[Any, ...], built: dict[Any, engine.Schedule]
) -> engine.Schedule:
    """:func:`build` for one job of many (akjobd's due jobs), given its
    :func:`schedule_inputs`: jobs whose schedules differ in their interval's anchor alone (jobs
    every 10 minutes, each from its own start) share the rest of the work, done for the first of
    them. ``built``: what the calls for one batch keep between them."""
    if job.run_every is None or job._last_interval is None:
        return build(job, now=now)
    key = (now.year, inputs[:ANCHOR_INPUT], inputs[ANCHOR_INPUT + 1 :])
    try:
        first = built.get(key)
    except TypeError:  # a value that cannot be hashed (an exotic tzinfo): nothing shared
        return build(job, now=now)
    if first is None:
        built[key] = schedule = build(job, now=now)
        return schedule
    anchor = to_aware(job._last_interval)
    sources = tuple(
        replace(source, anchor=anchor) if isinstance(source, engine.IntervalSource) else source
        for source in first.sources
    )
    return replace(first, sources=sources)


def _date(field: str, value: Any) -> date | None:
    if value is None or (isinstance(value, date) and not isinstance(value, datetime)):
        return value
    raise ValidationError({field: [f"{value!r} is not a date"]})


def build(job: Job, *, now: datetime | None = None) -> engine.Schedule:
    """:func:`to_schedule`, with the engine's own refusals turned into ValidationErrors."""
    try:
        return to_schedule(job, now=now)
    except engine.InvalidSchedule as exc:
        raise ValidationError({exc.field: [str(exc)]}) from exc


def check_durations(job: Job) -> None:
    """``timeout``, ``misfire_grace`` and ``alert_after``, when set, are longer than zero
    (``run_every`` is checked with the schedule), and none is longer than :data:`LONGEST`; a
    ``jitter`` is from zero to one day, in whole seconds."""
    errors: dict[str, list[str]] = {}
    jitter = job.jitter
    if isinstance(jitter, timedelta) and not timedelta(0) <= jitter <= LONGEST_JITTER:
        errors["jitter"] = [f"jitter must be from 0 to 1 day, not {jitter}"]
    elif isinstance(jitter, timedelta) and jitter % timedelta(seconds=1):
        errors["jitter"] = [f"jitter must be a whole number of seconds, not {jitter}"]
    for field in DURATIONS:
        value = getattr(job, field)
        if not isinstance(value, timedelta):
            continue  # empty, or refused by the field itself
        if value <= timedelta(0) and field != "run_every":
            errors[field] = [
                f"{field} must be longer than zero, not {duration(value)}; leave it empty for none"
            ]
        elif value > LONGEST:
            errors[field] = [
                f"{field} must be at most {LONGEST.days} days (100 years), not {value.days} days"
            ]
    if errors:
        raise ValidationError(errors)


#: Bounds of the overlap and retry settings (docs/guarantees.md, "Overlaps" and "Retries").
MOST_INSTANCES = 100
MOST_RETRIES = 100
LONGEST_RETRY_WAIT = timedelta(days=7)


def check_policies(job: Job) -> None:
    """``max_instances`` from 1 to :data:`MOST_INSTANCES`, ``retries`` from 0 to
    :data:`MOST_RETRIES`, the retry waits from 1 second to :data:`LONGEST_RETRY_WAIT` (the
    first no longer than the longest), and their factor from 1 to 100."""
    errors: dict[str, list[str]] = {}
    most = job.max_instances
    if isinstance(most, int) and not 1 <= most <= MOST_INSTANCES:
        errors["max_instances"] = [f"runs at once must be from 1 to {MOST_INSTANCES}, not {most}"]
    retries = job.retries
    if isinstance(retries, int) and not 0 <= retries <= MOST_RETRIES:
        errors["retries"] = [f"retries must be from 0 to {MOST_RETRIES}, not {retries}"]
    labels = {
        "retry_backoff": "the first retry wait",
        "retry_backoff_max": "the longest retry wait",
    }
    for field, label in labels.items():
        value = getattr(job, field)
        if isinstance(value, timedelta) and not timedelta(seconds=1) <= value <= LONGEST_RETRY_WAIT:
            errors[field] = [f"{label} must be from 1 second to 7 days, not {duration(value)}"]
    first, longest = job.retry_backoff, job.retry_backoff_max
    if (
        isinstance(first, timedelta)
        and isinstance(longest, timedelta)
        and first > longest
        and not errors.keys() & labels.keys()
    ):
        errors["retry_backoff_max"] = [
            f"the longest retry wait ({duration(longest)}) must not be shorter than the first "
            f"({duration(first)})"
        ]
    factor = job.retry_backoff_factor
    if isinstance(factor, int | float) and not 1 <= factor <= 100:  # NaN fails both
        errors["retry_backoff_factor"] = [
            f"the retry wait factor must be from 1 to 100, not {factor}"
        ]
    if errors:
        raise ValidationError(errors)


def check(job: Job) -> None:
    """The model-level checks of ``Job.clean()``: the durations and the schedule, every error
    at once (each part of the schedule is checked on its own before the whole)."""
    errors: dict[str, list[str]] = {}
    for step in (check_durations, check_policies, _zones, *_PARTS, build):
        try:
            step(job)
        except ValidationError as exc:
            found = exc.message_dict
        except engine.InvalidSchedule as exc:
            found = {exc.field: [str(exc)]}
        else:
            continue
        for field, messages in found.items():
            errors.setdefault(field, messages)  # a field's first error only: later steps repeat it
    if errors:
        raise ValidationError(errors)


def _check_monthly(job: Job) -> None:
    _monthly(job, job.monthly_days_list, UTC)


def _check_weekly(job: Job) -> None:
    _pair(job, "weekly_days", "weekly_time", job.weekly_days_list)


def _check_cron(job: Job) -> None:
    if job.cron:
        engine.CronSource(job.cron.strip(), UTC)


def _check_dates(job: Job) -> None:
    for value in job.dates_list:
        check_datetime("dates", value)


def _check_interval(job: Job) -> None:
    if job.run_every is not None:
        engine.IntervalSource(datetime(2000, 1, 1, tzinfo=UTC), job.run_every)


def _check_window(job: Job) -> None:
    begin, end = job.active_time_begin, job.active_time_end
    if begin is not None or end is not None:
        engine.Limits(window=(begin, end))


_PARTS = (_check_dates, _check_interval, _check_monthly, _check_weekly, _check_cron, _check_window)


def validate(job: Job) -> None:
    """Every check on the job as it stands (field types first)."""
    job.full_clean(validate_unique=False, validate_constraints=False)


def next_run_for(job: Job, *, at: datetime) -> datetime | None:
    """The job's next run time at or after ``at``; None without a code object (nothing to run,
    so it is never due) or when the schedule has none left."""
    schedule = build(job, now=at)
    if job._job_code is None:
        return None
    return engine.next_at_or_after(schedule, at=at)


def upcoming_for(job: Job, *, after: datetime, count: int) -> list[datetime]:
    after = to_aware(after)
    return engine.upcoming(build(job, now=after), after=after, count=count)


def describe_job(job: Job) -> str:
    try:
        return engine.describe(build(job))
    except ValidationError as exc:
        return f"invalid schedule: {'; '.join(exc.messages)}"


@dataclass(frozen=True)
class Forecast:
    """A job's next run times, or (``times`` empty) the reason it has none, in words."""

    times: tuple[datetime, ...] = ()
    reason: str | None = None


def forecast(job: Job, *, after: datetime, count: int) -> Forecast:
    """The next ``count`` run times strictly after ``after``, or why there are none: the words
    the admin's change page and ``akjobd showinfo`` both show."""
    after = to_aware(after)
    try:
        schedule = build(job, now=after)
    except ValidationError as exc:
        return Forecast(reason=f"the schedule is invalid: {'; '.join(exc.messages)}")
    if job._job_code is None:
        return Forecast(reason=NO_CODE)
    times = engine.upcoming(schedule, after=after, count=count)
    if times:
        return Forecast(tuple(times))
    return Forecast(reason=engine.explain_empty(schedule, after=after) or "no run time is left")
