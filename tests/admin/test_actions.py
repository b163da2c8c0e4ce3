"""The job actions (enable, disable, run now) and who may use them (docs/admin.md)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from akjob.models import Job, JobRun

LIST = reverse("admin:akjob_job_changelist")


def act(client, action: str, *jobs: Job):
    data = {"action": action, "_selected_action": [j.pk for j in jobs], "index": "0"}
    return client.post(LIST, data, follow=True)


def texts(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


@pytest.mark.django_db
def test_disable_and_enable_reschedule(frozen, admin_client, weekly_job):
    response = act(admin_client, "disable_jobs", weekly_job)
    assert "1 job(s) disabled." in texts(response)
    job = Job.objects.get(pk=weekly_job.pk)
    assert (job.job_enabled, job._next_run) == (False, None)
    act(admin_client, "enable_jobs", weekly_job)
    job = Job.objects.get(pk=weekly_job.pk)
    assert job.job_enabled and job._next_run is not None


@pytest.mark.django_db
def test_run_now_refuses_a_disabled_job_with_a_message(admin_client, weekly_job):
    Job.objects.filter(pk=weekly_job.pk).update(job_enabled=False)
    response = act(admin_client, "run_now", weekly_job)
    assert any("is disabled; enable it first" in t for t in texts(response))
    assert not JobRun.objects.exists()


@pytest.mark.django_db
def test_run_now_without_akjobd_says_so_and_runs_nothing_in_the_web_process(
    admin_client, weekly_job
):
    from akjob.models import DaemonRecord

    before = Job.objects.filter(pk=weekly_job.pk).values().get()
    response = act(admin_client, "run_now", weekly_job)
    assert any("no akjobd is running" in t for t in texts(response)), texts(response)
    assert not JobRun.objects.exists() and not DaemonRecord.objects.exists()
    assert Job.objects.filter(pk=weekly_job.pk).values().get() == before


@pytest.mark.django_db
def test_run_now_asks_a_live_akjobd_to_run_the_job(admin_client, weekly_job):
    from django.utils import timezone

    from akjob.models import DaemonRecord

    now = timezone.now()
    DaemonRecord.objects.create(host="h", pid=1, started=now, heartbeat=now)
    response = act(admin_client, "run_now", weekly_job)
    assert any("is due now; akjobd starts it" in t for t in texts(response)), texts(response)
    job = Job.objects.get(pk=weekly_job.pk)
    assert abs((job._next_run - now).total_seconds()) < 5
    assert not JobRun.objects.exists()  # the daemon runs it, not the web process


@pytest.mark.django_db
def test_run_now_refuses_a_job_whose_run_count_limit_is_used_up(admin_client, weekly_job):
    Job.objects.filter(pk=weekly_job.pk).update(run_count_limit=2, _run_count=2)
    response = act(admin_client, "run_now", weekly_job)
    assert any("used up its run count limit (2 of 2 runs)" in t for t in texts(response))
    assert not JobRun.objects.exists()


@pytest.mark.django_db
def test_run_now_refuses_a_job_that_is_running(admin_client, weekly_job):
    from django.utils import timezone

    JobRun.objects.create(
        job=weekly_job,
        scheduled=timezone.now(),
        status=JobRun.Status.RUNNING,
        running_for=weekly_job.pk,
    )
    response = act(admin_client, "run_now", weekly_job)
    assert any("is running now" in t for t in texts(response)), texts(response)


@pytest.mark.django_db
def test_a_view_only_user_sees_jobs_but_gets_no_actions(viewer_client, weekly_job):
    response = viewer_client.get(LIST)
    assert response.status_code == 200
    page = response.content.decode()
    assert "weekly report" in page
    for action in ("enable_jobs", "disable_jobs", "run_now"):
        assert action not in page
    change = viewer_client.get(reverse("admin:akjob_job_change", args=[weekly_job.pk]))
    assert change.status_code == 200
    assert 'name="_save"' not in change.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize("action", ["disable_jobs", "run_now"])
def test_a_view_only_user_cannot_act(viewer_client, weekly_job, action, monkeypatch):
    import akjob.daemon.runnow

    def refuse(job_id: int, **kwargs: object) -> str:
        raise AssertionError("run_job_now must not be called for a view-only user")

    monkeypatch.setattr(akjob.daemon.runnow, "run_job_now", refuse)
    before = Job.objects.filter(pk=weekly_job.pk).values().get()
    response = act(viewer_client, action, weekly_job)
    assert response.status_code in (200, 403)
    assert Job.objects.filter(pk=weekly_job.pk).values().get() == before
    assert not JobRun.objects.exists()


@pytest.mark.django_db
def test_a_view_only_user_cannot_edit_or_add(viewer_client, weekly_job):
    from tests.admin.conftest import job_form

    url = reverse("admin:akjob_job_change", args=[weekly_job.pk])
    assert viewer_client.post(url, job_form(weekly_job, name="hacked")).status_code == 403
    assert viewer_client.get(reverse("admin:akjob_job_add")).status_code == 403
    assert Job.objects.get(pk=weekly_job.pk).name == "weekly report"


@pytest.mark.django_db
def test_a_user_with_change_permission_may_act(viewer, viewer_client, weekly_job):
    from django.contrib.auth.models import Permission

    viewer.user_permissions.add(Permission.objects.get(codename="change_job"))
    page = viewer_client.get(LIST).content.decode()
    assert "disable_jobs" in page
    act(viewer_client, "disable_jobs", weekly_job)
    assert not Job.objects.get(pk=weekly_job.pk).job_enabled
