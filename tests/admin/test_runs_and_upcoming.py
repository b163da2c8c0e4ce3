"""The run history admin (read-only) and the "Upcoming runs" page (docs/admin.md)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from django.urls import reverse

from akjob.models import Job, JobCallable, JobRun

pytestmark = pytest.mark.django_db

RUNS = reverse("admin:akjob_jobrun_changelist")
UPCOMING = reverse("admin:akjob_job_upcoming")
CODE = JobCallable(print, "hi")  # a job without a code object has no run times
TRACEBACK = (
    "Traceback (most recent call last):\n"
    '  File "jobs.py", line 3, in report\n'
    "    raise RuntimeError('<no data>')\n"
    "RuntimeError: <no data>\n"
)


@pytest.fixture
def runs(frozen, weekly_job) -> list[JobRun]:
    other = Job.objects.create(name="other", run_every=timedelta(hours=1))
    return [
        JobRun.objects.create(
            job=weekly_job,
            job_name=weekly_job.name,
            scheduled=frozen - timedelta(days=1),
            started=frozen - timedelta(days=1),
            finished=frozen - timedelta(days=1, seconds=-2),
            status=JobRun.Status.FAILED,
            error=TRACEBACK,
        ),
        JobRun.objects.create(
            job=other,
            job_name="other",
            scheduled=frozen - timedelta(days=40),
            status=JobRun.Status.SUCCEEDED,
        ),
    ]


def names(response) -> list[str]:
    return [run.job_name for run in response.context["cl"].result_list]


def test_run_list_filters_by_job_status_and_date(frozen, admin_client, runs, weekly_job):
    assert names(admin_client.get(RUNS)) == ["weekly report", "other"]
    assert names(admin_client.get(f"{RUNS}?job__id__exact={weekly_job.pk}")) == ["weekly report"]
    assert names(admin_client.get(f"{RUNS}?status__exact=succeeded")) == ["other"]
    past_week = {"scheduled__gte": str(frozen - timedelta(days=7)), "scheduled__lt": str(frozen)}
    assert names(admin_client.get(RUNS, past_week)) == ["weekly report"]
    page = admin_client.get(RUNS).content.decode()
    assert "RuntimeError: &lt;no data&gt;" in page  # the error's last line, escaped


def test_a_run_shows_its_error_pre_wrapped_and_cannot_be_changed(frozen, admin_client, runs):
    url = reverse("admin:akjob_jobrun_change", args=[runs[0].pk])
    response = admin_client.get(url)
    page = response.content.decode()
    assert '<pre class="akjob-error">Traceback (most recent call last):' in page
    assert "raise RuntimeError(&#x27;&lt;no data&gt;&#x27;)" in page
    assert 'name="_save"' not in page
    assert admin_client.post(url, {"status": "succeeded"}).status_code == 403
    assert admin_client.get(reverse("admin:akjob_jobrun_add")).status_code == 403
    assert JobRun.objects.get(pk=runs[0].pk).status == JobRun.Status.FAILED


def test_a_run_handed_to_a_task_backend_shows_the_task_outcome(frozen, admin_client, weekly_job):
    run = JobRun.objects.create(
        job=weekly_job,
        job_name=weekly_job.name,
        scheduled=frozen - timedelta(hours=1),
        status=JobRun.Status.FAILED,
        task_backend="default",
        task_result_id="r-42",
        task_status="FAILED",
    )
    listing = admin_client.get(f"{RUNS}?task_status__exact=FAILED")
    assert names(listing) == ["weekly report"]
    assert '<span class="akjob-task">task failed</span>' in listing.content.decode()
    detail = admin_client.get(reverse("admin:akjob_jobrun_change", args=[run.pk])).content.decode()
    assert "r-42" in detail and "FAILED" in detail and "default" in detail


def test_the_viewer_sees_runs(frozen, viewer_client, runs):
    assert viewer_client.get(RUNS).status_code == 200


def test_upcoming_lists_every_run_of_the_next_24_hours_in_time_order(frozen, admin_client):
    weekly = Job(name="weekly", weekly_time=time(6, 0), job_code_object=CODE)
    weekly.weekly_days_list = [3]  # Tuesday 2027-06-08 06:00
    weekly.save()
    Job.objects.create(
        name="hourly",
        run_every=timedelta(hours=4),
        _last_interval=frozen.replace(hour=0),
        job_code_object=CODE,
    )
    both = Job.objects.create(
        name="both", cron="0 12 * * *", run_every=timedelta(days=1), job_code_object=CODE
    )
    Job.objects.filter(pk=both.pk).update(_last_interval=frozen.replace(hour=12) - timedelta(1))
    Job.objects.create(name="off", run_every=timedelta(minutes=1), job_enabled=False)
    response = admin_client.get(UPCOMING)
    assert response.status_code == 200
    rows = response.context["rows"]
    got = [(r.when, r.job.name, r.kinds) for r in rows]
    at = lambda h: datetime(2027, 6, 7, h, tzinfo=UTC) if h < 24 else at(h - 24) + timedelta(1)  # noqa: E731
    assert got == [
        (at(12), "hourly", ("interval",)),
        (at(12), "both", ("interval", "cron")),
        (at(16), "hourly", ("interval",)),
        (at(20), "hourly", ("interval",)),
        (at(24), "hourly", ("interval",)),
        (at(28), "hourly", ("interval",)),
        (at(30), "weekly", ("weekly",)),
        (at(32), "hourly", ("interval",)),
    ]
    page = response.content.decode()
    assert "Upcoming runs" in page and "Tue 2027-06-08 06:00:00 UTC" in page


def test_upcoming_takes_a_range(frozen, admin_client):
    Job.objects.create(name="hourly", run_every=timedelta(hours=1), job_code_object=CODE)
    rows = admin_client.get(UPCOMING, {"hours": 3}).context["rows"]
    assert [r.when for r in rows] == [frozen + timedelta(hours=h) for h in (1, 2, 3)]
    start = "2027-06-10T00:00"
    rows = admin_client.get(UPCOMING, {"start": start, "hours": 2}).context["rows"]
    assert [r.when for r in rows] == [datetime(2027, 6, 10, h, tzinfo=UTC) for h in (1, 2)]


@pytest.mark.parametrize(
    "query,field",
    [
        ({"hours": "0"}, "hours"),
        ({"hours": "10000"}, "hours"),
        ({"hours": "x"}, "hours"),
        ({"start": "yesterday", "hours": "1"}, "start"),
        ({"start": "2020-01-01T00:00", "hours": "1"}, "start"),
    ],
)
def test_upcoming_refuses_a_bad_range(frozen, admin_client, query, field):
    response = admin_client.get(UPCOMING, query)
    assert response.status_code == 400
    assert field in response.context["form"].errors
    assert response.context["rows"] == []


def test_upcoming_collapses_a_busy_job_to_one_row(frozen, admin_client):
    Job.objects.create(name="every second", run_every=timedelta(seconds=1), job_code_object=CODE)
    response = admin_client.get(UPCOMING)
    [row] = response.context["rows"]
    assert row.count == 24 * 3600
    assert len(row.times) == 200
    assert "86,400 runs" in response.content.decode()


def test_upcoming_needs_view_permission(db, client):
    from django.contrib.auth.models import User

    staff = User.objects.create_user("staff", is_staff=True)
    client.force_login(staff)
    assert client.get(UPCOMING).status_code == 403


def test_upcoming_is_open_to_viewers(viewer_client):
    assert viewer_client.get(UPCOMING).status_code == 200


def test_run_list_shows_attempts_and_a_retry_to_come(frozen, admin_client, weekly_job):
    common = {"job": weekly_job, "job_name": weekly_job.name, "scheduled": frozen}
    JobRun.objects.create(
        **common,
        status=JobRun.Status.FAILED,
        error=TRACEBACK,
        retry_at=frozen + timedelta(minutes=1),
    )
    JobRun.objects.create(**common, attempt=2, status=JobRun.Status.RUNNING)
    page = admin_client.get(RUNS).content.decode()
    assert "(attempt 2)" in page
    assert "retry at <time" in page
    first = JobRun.objects.get(attempt=1)
    detail = admin_client.get(reverse("admin:akjob_jobrun_change", args=[first.pk]))
    assert "retry at" in detail.content.decode().lower()
