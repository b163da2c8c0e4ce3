"""The job list, add and change pages, with the test client (docs/admin.md)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from django.urls import reverse

from akjob import codeobjects
from akjob.models import Job, JobCallable, JobRun
from tests.admin.conftest import CLEANUP, REPORT, errors_of, job_form

pytestmark = pytest.mark.django_db

LIST = reverse("admin:akjob_job_changelist")
ADD = reverse("admin:akjob_job_add")


def change_url(job: Job) -> str:
    return reverse("admin:akjob_job_change", args=[job.pk])


def test_list_shows_schedule_next_and_last_run(frozen, admin_client, weekly_job):
    JobRun.objects.create(
        job=weekly_job,
        job_name=weekly_job.name,
        scheduled=frozen - timedelta(days=3),
        started=frozen - timedelta(days=3),
        status=JobRun.Status.FAILED,
        error="boom",
    )
    Job.objects.filter(pk=weekly_job.pk).update(_last_run=frozen - timedelta(days=3))
    Job.objects.create(name="every quarter hour", run_every=timedelta(minutes=15))
    page = admin_client.get(LIST).content.decode()
    assert "weekly report" in page
    assert "Mon, Fri at 06:00 UTC" in page  # job.describe()
    assert "every 15 minutes" in page
    assert "2027-06-11 06:00:00 UTC" in page  # next run: Friday, with its zone
    assert "akjob-failed" in page  # the last run's status
    assert "Upcoming runs" in page  # the link to the upcoming page


@pytest.mark.parametrize(
    "query,shown,hidden",
    [
        ("source=weekly", ["weekly report"], ["interval job"]),
        ("source=interval", ["interval job"], ["weekly report"]),
        ("source=none", ["no source"], ["weekly report", "interval job"]),
        ("job_enabled__exact=0", ["interval job"], ["weekly report"]),
        ("last_status=succeeded", ["weekly report"], ["interval job"]),
        ("last_status=never", ["interval job"], ["weekly report"]),
        ("q=interval", ["interval job"], ["weekly report"]),
    ],
)
def test_filters_and_search(frozen, admin_client, weekly_job, query, shown, hidden):
    Job.objects.create(name="interval job", run_every=timedelta(hours=1), job_enabled=False)
    Job.objects.create(name="no source")
    JobRun.objects.create(
        job=weekly_job, scheduled=frozen, started=frozen, status=JobRun.Status.SUCCEEDED
    )
    page = admin_client.get(f"{LIST}?{query}").content.decode()
    for name in shown:
        assert f">{name}<" in page
    for name in hidden:
        assert f">{name}<" not in page


def test_change_page_shows_next_runs_last_runs_and_code_state(frozen, admin_client, weekly_job):
    for day in range(1, 4):
        JobRun.objects.create(
            job=weekly_job,
            scheduled=frozen - timedelta(days=day),
            status=JobRun.Status.FAILED,
            error=f"Traceback (most recent call last):\nRuntimeError: failure {day}",
        )
    response = admin_client.get(change_url(weekly_job))
    assert response.status_code == 200
    times = response.context["akjob_run_times"].times
    assert len(times) == 10
    assert times[0] == datetime(2027, 6, 11, 6, 0, tzinfo=UTC)
    assert all(t.weekday() in (0, 4) for t in times)
    page = response.content.decode()
    assert "send_report(&quot;ops&quot;)" in page  # the stored code, read without running it
    assert "RuntimeError: failure 3" in page
    form = response.context["adminform"].form
    assert form.initial["function"] == REPORT
    assert form.initial["arguments"] == '["ops"]'

    # the day sets are checkboxes
    assert 'type="checkbox" name="weekly_days" value="2"' in page


def test_change_page_explains_a_job_without_next_run(frozen, admin_client):
    job = Job(name="never", weekly_time=time(6, 0), active_date_end=frozen.date())
    job.job_code_object = JobCallable(print, "hi")
    job.weekly_days_list = [4]  # Wednesday
    job.active_weekly_days_list = [4]
    job.save()
    response = admin_client.get(change_url(job))
    reason = response.context["akjob_run_times"].reason
    assert "active_date_end" in reason or "date range" in reason
    assert "No next run:" in response.content.decode()


def test_add_a_job_from_a_registered_function(frozen, admin_client):
    data = job_form(
        name="report",
        function=REPORT,
        arguments='["ops"]',
        keyword_arguments='{"copies": 2}',
        weekly_days=["2", "4"],
        weekly_time="06:30",
        active_time_begin="06:00",
        active_time_end="07:00",
    )
    response = admin_client.post(ADD, data)
    assert response.status_code == 302, errors_of(response)("__all__")
    job = Job.objects.get(name="report")
    assert job.weekly_days_list == [2, 4]
    assert job._next_run == datetime(2027, 6, 7, 6, 30, tzinfo=UTC) + timedelta(days=2)
    expected = codeobjects.dumps(JobCallable(REPORT, "ops", copies=2), job=job.pk, version=1)
    assert bytes(job._job_code) == expected


def test_the_function_choices_come_from_the_decorator_and_the_setting(admin_client):
    choices = dict(admin_client.get(ADD).context["adminform"].form.fields["function"].choices)
    assert choices[REPORT] == f"Send the report ({REPORT})"
    assert choices[CLEANUP] == CLEANUP


def test_a_new_job_needs_a_function(admin_client):
    response = admin_client.post(ADD, job_form(name="x", run_every="01:00:00"))
    assert response.status_code == 200
    assert errors_of(response)("function") == ["Function: This field is required."]
    assert not Job.objects.exists()


def test_editing_without_a_function_keeps_the_code_object(frozen, admin_client, weekly_job):
    before = bytes(weekly_job._job_code)
    data = job_form(weekly_job, name="renamed", weekly_days=["3"])
    response = admin_client.post(change_url(weekly_job), data)
    assert response.status_code == 302
    job = Job.objects.get(pk=weekly_job.pk)
    assert (job.name, job.weekly_days_list) == ("renamed", [3])
    assert bytes(job._job_code) == before
    assert job._next_run == datetime(2027, 6, 8, 6, 0, tzinfo=UTC)  # Tuesday


def test_editing_with_a_function_replaces_the_code_object(admin_client, weekly_job):
    data = job_form(weekly_job, function=CLEANUP)
    assert admin_client.post(change_url(weekly_job), data).status_code == 302
    job = Job.objects.get(pk=weekly_job.pk)
    version = weekly_job._code_version + 1
    assert job._code_version == version
    assert bytes(job._job_code) == codeobjects.dumps(
        JobCallable(CLEANUP), job=job.pk, version=version
    )


def test_dates_inline_adds_a_date(frozen, admin_client, weekly_job):
    data = job_form(weekly_job)
    data.update(
        {
            "dates-TOTAL_FORMS": "1",
            "dates-0-job_datetime_0": "2027-06-08",
            "dates-0-job_datetime_1": "01:02:03",
        }
    )
    assert admin_client.post(change_url(weekly_job), data).status_code == 302
    job = Job.objects.get(pk=weekly_job.pk)
    assert job.dates_list == [datetime(2027, 6, 8, 1, 2, 3, tzinfo=UTC)]
    assert job._next_run == datetime(2027, 6, 8, 1, 2, 3, tzinfo=UTC)
