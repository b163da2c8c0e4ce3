"""Fixtures of the admin tests: registered functions, users, and posting the job form."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, time
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client

from akjob.models import Job
from tests.admin import jobfuncs

REPORT = "tests.admin.jobfuncs.send_report"
CLEANUP = "tests.admin.jobfuncs.cleanup"
NOW = datetime(2027, 6, 7, 9, 0, 0, tzinfo=UTC)  # a Monday

# The job form's fields with the values of an empty job (time fields and day sets left out).
EMPTY_FORM = {
    "name": "",
    "run_every": "",
    "weekly_time": "",
    "monthly_time": "",
    "cron": "",
    "run_count_limit": "",
    "active_time_begin": "",
    "active_time_end": "",
    "active_date_begin": "",
    "active_date_end": "",
    "timezone": "",
    "weekly_time_tz_offset_timedelta": "00:00:00",
    "monthly_time_tz_offset_timedelta": "00:00:00",
    "active_time_tz_offset_timedelta": "00:00:00",
    "timeout": "",
    "misfire_grace": "",
    "month_positions": "",
    "holidays": "",
    "exclude_dates": "",
    "jitter": "",
    "catch_up": "once",
    "overlap": "skip",
    "max_instances": "1",
    "retries": "0",
    "retry_backoff": "10 seconds",
    "retry_backoff_factor": "2.0",
    "retry_backoff_max": "1 hour",
    "function": "",
    "arguments": "",
    "keyword_arguments": "",
    "dates-TOTAL_FORMS": "0",
    "dates-INITIAL_FORMS": "0",
    "dates-MIN_NUM_FORMS": "0",
    "dates-MAX_NUM_FORMS": "1000",
}


@pytest.fixture(autouse=True)
def job_functions(settings: Any) -> None:
    """The setting lists one more function; the decorator registered send_report on import."""
    assert jobfuncs.send_report  # imported: registered
    settings.AKJOB_JOB_FUNCTIONS = [CLEANUP]
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast users


@pytest.fixture
def day_tables(transactional_db: None) -> None:
    """Refill the day tables, which a transactional test's flush (after the test before) empties
    along with everything else; the data migration filled them only once."""
    from akjob import daytables, models

    daytables.fill(lambda name: getattr(models, name))


@pytest.fixture
def frozen(time_machine: Any) -> datetime:
    time_machine.move_to(NOW, tick=False)
    return NOW


def job_form(job: Job | None = None, **values: Any) -> dict[str, Any]:
    """POST data for the job form: the job's stored values (or an empty job's), then ``values``.

    Boolean fields are sent only when true, as browsers do; pass ``job_enabled=False`` to clear.
    """
    data: dict[str, Any] = dict(EMPTY_FORM, job_enabled="on")
    if job is not None:
        data.update(_stored(job))
    for name, value in values.items():
        if value is False or value is None:
            data.pop(name, None)
        else:
            data[name] = value
    return data


def _stored(job: Job) -> dict[str, Any]:
    data: dict[str, Any] = {"name": job.name, "cron": job.cron, "timezone": job.timezone}
    for name in ("weekly_time", "monthly_time", "active_time_begin", "active_time_end"):
        value = getattr(job, name)
        data[name] = value.strftime("%H:%M:%S") if value else ""
    for name in ("weekly_days", "monthly_days", "active_weekly_days", "active_monthly_days"):
        data[name] = getattr(job, f"{name}_list")
    data["active_months"] = job.active_months_list
    data["run_every"] = str(job.run_every) if job.run_every else ""
    data["run_count_limit"] = job.run_count_limit if job.run_count_limit is not None else ""
    for name in ("month_positions", "holidays", "exclude_dates"):
        data[name] = getattr(job, name)
    data["jitter"] = str(job.jitter) if job.jitter else ""
    data["catch_up"] = job.catch_up
    data["overlap"], data["max_instances"] = job.overlap, job.max_instances
    data["retries"], data["retry_backoff_factor"] = job.retries, job.retry_backoff_factor
    data["retry_backoff"] = str(job.retry_backoff)
    data["retry_backoff_max"] = str(job.retry_backoff_max)
    if job.business_days_only:
        data["business_days_only"] = "on"
    if not job.job_enabled:
        data["job_enabled"] = False
    dates = job.dates.all()
    data["dates-TOTAL_FORMS"] = data["dates-INITIAL_FORMS"] = str(len(dates))
    for i, date in enumerate(dates):
        data[f"dates-{i}-id"] = date.pk
        data[f"dates-{i}-job"] = job.pk
        data[f"dates-{i}-job_datetime_0"] = date.job_datetime.strftime("%Y-%m-%d")
        data[f"dates-{i}-job_datetime_1"] = date.job_datetime.strftime("%H:%M:%S")
    return {k: v for k, v in data.items() if v is not False}


@pytest.fixture
def weekly_job(db: None) -> Job:
    """Mondays and Fridays at 06:00 UTC, from a registered function."""
    from akjob.models import JobCallable

    job = Job(name="weekly report", weekly_time=time(6, 0))
    job.weekly_days_list = [2, 6]
    job.job_code_object = JobCallable(REPORT, "ops")
    job.save()
    return job


@pytest.fixture
def viewer(db: None) -> User:
    """A staff user who may view jobs and runs, and nothing more."""
    user = User.objects.create_user("viewer", password="viewer-pass", is_staff=True)
    codenames = ["view_job", "view_jobrun", "view_jobdates", "view_daemonrecord"]
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    return user


@pytest.fixture
def viewer_client(viewer: User) -> Client:
    client = Client()
    client.force_login(viewer)
    return client


def errors_of(response: Any) -> Callable[[str], list[str]]:
    """The job form's errors by field name, from a re-rendered change or add page."""
    form = response.context["adminform"].form
    return lambda field: list(form.errors.get(field, []))
