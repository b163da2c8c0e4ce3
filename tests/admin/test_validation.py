"""Editing re-validates (docs/admin.md, "Validation"): errors show on their field and nothing
is saved; JSON arguments are checked."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.urls import reverse

from akjob.models import Job
from tests.admin.conftest import REPORT, errors_of, job_form

pytestmark = pytest.mark.django_db

ADD = reverse("admin:akjob_job_add")


def change_url(job: Job) -> str:
    return reverse("admin:akjob_job_change", args=[job.pk])


def snapshot(job: Job) -> tuple:
    fresh = Job.objects.get(pk=job.pk)
    return (
        fresh.name,
        fresh.weekly_time,
        fresh.weekly_days_list,
        fresh.cron,
        fresh.timezone,
        fresh._next_run,
        bytes(fresh._job_code),
        fresh.dates_list,
    )


@pytest.mark.parametrize(
    "values,field,words",
    [
        ({"weekly_days": []}, "weekly_days", "“Weekly time” is set, so “Weekdays” are required"),
        ({"weekly_time": ""}, "weekly_time", "“Weekdays” are set, so “Weekly time” is required"),
        ({"active_time_begin": "08:00"}, "active_time_end", ""),
        ({"cron": "61 * * * *"}, "cron", ""),
        ({"timezone": "Mars/Olympus"}, "timezone", "not a known IANA time zone"),
        ({"run_every": "-00:05:00"}, "run_every", ""),
        (
            {"timezone": "America/Denver", "weekly_time_tz_offset_timedelta": "-07:00:00"},
            "weekly_time_tz_offset_timedelta",
            "must be zero when “Time zone” is set",
        ),
        ({"arguments": "[1,"}, "arguments", "not valid JSON"),
        ({"function": REPORT, "arguments": '{"to": 1}'}, "arguments", "must be a JSON list"),
        ({"function": REPORT, "keyword_arguments": "[1]"}, "keyword_arguments", "JSON object"),
        ({"function": REPORT, "arguments": "[]"}, "arguments", "missing a required argument"),
        ({"function": REPORT, "keyword_arguments": '{"x": 1}'}, "arguments", "do not fit"),
        ({"arguments": '["ops"]'}, "function", "Choose the function"),
        ({"function": "os.system"}, "function", "Select a valid choice"),
        # Values that gave a server error instead of a field error:
        ({"run_every": "999999999 00:00:00"}, "run_every", "“Repeat every” must be at most 36500"),
        ({"timeout": "999999999 00:00:00"}, "timeout", "“Time limit” must be at most 36500 days"),
        ({"misfire_grace": "99999 00:00:00"}, "misfire_grace", "“Misfire grace” must be at most"),
        ({"timeout": "-00:00:05"}, "timeout", "“Time limit” must be longer than zero"),
        ({"timeout": "00:00:00"}, "timeout", "“Time limit” must be longer than zero"),
        ({"misfire_grace": "-1 00:00:00"}, "misfire_grace", "“Misfire grace” must be longer"),
        (
            {"function": REPORT, "arguments": "[" * 100_000 + "]" * 100_000},
            "arguments",
            "Arguments: lists and objects nest deeper than 20 levels",
        ),
        (
            {"function": REPORT, "arguments": '["ops", ' + "[" * 990 + "]" * 990 + "]"},
            "arguments",
            "Arguments: lists and objects nest deeper than 20 levels",
        ),
        (
            {"function": REPORT, "keyword_arguments": '{"to": ' + "[" * 25 + "]" * 25 + "}"},
            "keyword_arguments",
            "Keyword arguments: lists and objects nest deeper",
        ),
        (
            {"function": REPORT, "keyword_arguments": '{"a": {"b": ' * 15 + "1" + "}}" * 15},
            "keyword_arguments",
            "Keyword arguments: lists and objects nest deeper",
        ),
        (
            {"function": REPORT, "arguments": "[" + "9" * 5000 + "]"},
            "arguments",
            "Arguments: cannot be read: Exceeds the limit",
        ),
        (
            {"function": REPORT, "keyword_arguments": '{"to": ' + "9" * 5000 + "}"},
            "keyword_arguments",
            "Keyword arguments: cannot be read",
        ),
        (
            {"function": REPORT, "arguments": '["' + "x" * 70_000 + '"]'},
            "arguments",
            "Arguments: at most 65536 characters",
        ),
        # Calendars, places in the month, jitter:
        ({"exclude_dates": "2027-12-24, 2027-13-01"}, "exclude_dates", "exclude dates: '2027-13"),
        ({"month_positions": "L-31"}, "month_positions", "month positions: 'L-31'"),
        ({"month_positions": "MON#6"}, "month_positions", "is not a place in the month"),
        ({"month_positions": "L"}, "monthly_time", "so “Monthly time” is required"),
        ({"holidays": "Atlantis"}, "holidays", "“Holidays”: 'Atlantis' is not a country code"),
        ({"holidays": "XX"}, "holidays", "does not know the country XX"),
        ({"holidays": "DE-ZZ"}, "holidays", "does not know the subdivision ZZ of DE"),
        ({"jitter": "1 00:00:01"}, "jitter", "“Jitter” must be from 0 to 1 day"),
        ({"jitter": "-00:00:05"}, "jitter", "“Jitter” must be from 0 to 1 day"),
        ({"jitter": "00:00:01.500000"}, "jitter", "“Jitter” must be a whole number of seconds"),
    ],
)
def test_an_invalid_edit_shows_the_error_on_its_field_and_changes_nothing(
    frozen, admin_client, weekly_job, values, field, words
):
    before = snapshot(weekly_job)
    data = job_form(weekly_job, name="changed", **values)
    admin_client.raise_request_exception = False  # a server error fails the test, not raises
    response = admin_client.post(change_url(weekly_job), data)
    assert response.status_code == 200
    errors = errors_of(response)(field)
    assert errors, response.context["adminform"].form.errors
    assert words in " ".join(errors)
    assert snapshot(weekly_job) == before
    assert 'class="errorlist' in response.content.decode()


def test_an_invalid_new_job_is_not_created(frozen, admin_client):
    data = job_form(name="bad", function=REPORT, arguments='["ops"]', weekly_days=["2"])
    response = admin_client.post(ADD, data)
    assert response.status_code == 200
    assert errors_of(response)("weekly_time")
    assert not Job.objects.exists()


def test_a_bad_date_in_the_inline_is_refused(frozen, admin_client, weekly_job):
    before = snapshot(weekly_job)
    data = job_form(weekly_job)
    data.update(
        {
            "dates-TOTAL_FORMS": "1",
            "dates-0-job_datetime_0": "not a date",
            "dates-0-job_datetime_1": "01:00",
        }
    )
    assert admin_client.post(change_url(weekly_job), data).status_code == 200
    assert snapshot(weekly_job) == before


def test_errors_on_fields_the_form_lacks_are_shown_at_the_top(weekly_job):
    from django.core.exceptions import ValidationError

    from akjob.admin.job_form import JobAdminForm

    form = JobAdminForm(job_form(weekly_job), instance=weekly_job)
    assert form.is_valid(), form.errors
    form._update_errors(ValidationError({"dates": ["a naive date"], "cron": ["bad cron"]}))
    assert form.non_field_errors() == ["dates: a naive date"]
    assert form.errors["cron"] == ["bad “Cron expression”"]


def test_stored_dates_round_trip(frozen, admin_client, weekly_job):
    weekly_job.dates.create(job_datetime=datetime(2027, 6, 9, 12, 0, tzinfo=UTC))
    response = admin_client.post(change_url(weekly_job), job_form(weekly_job, name="same"))
    assert response.status_code == 302
    assert Job.objects.get(pk=weekly_job.pk).dates_list == [datetime(2027, 6, 9, 12, tzinfo=UTC)]


def test_arguments_at_the_limits_are_accepted(admin_client, weekly_job):
    import json

    deep: list = []
    for _ in range(18):
        deep = [deep]  # 19 levels, 20 inside the list of arguments
    brackets = "[{" * 50 + '"]'  # brackets inside a string do not nest
    data = job_form(weekly_job, function=REPORT, arguments=json.dumps([brackets, deep]))
    response = admin_client.post(change_url(weekly_job), data)
    assert response.status_code == 302, errors_of(response)("arguments")
    code = Job.objects.get(pk=weekly_job.pk).job_code_object
    assert code.args == (brackets, deep)
