"""The admin's forms and pages through Django's test client: the words people type and read,
the stored code shown to every user, first run at, warnings, "Run again", the upcoming page's
filters and pages. Every bad input is a field error naming its label, never a server error."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from akjob.admin import cron_words
from akjob.admin.stored_code import read
from akjob.models import DaemonRecord, Job, JobCallable, JobRun
from akjob.text import duration, parse_duration, when
from tests.admin.conftest import REPORT, errors_of, job_form

pytestmark = pytest.mark.django_db
ADD = reverse("admin:akjob_job_add")
LIST = reverse("admin:akjob_job_changelist")
UPCOMING = reverse("admin:akjob_job_upcoming")


def change_url(job: Job) -> str:
    return reverse("admin:akjob_job_change", args=[job.pk])


# -- durations in words --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "typed,seconds",
    [
        ("15 minutes", 900),
        ("5 min", 300),
        ("1h30m", 5400),
        ("90 s", 90),
        ("00:15:00", 900),
        ("1 day, 2:00:00", 93600),
        ("1 02:00:00", 93600),
        ("2 days 3 hours", 183600),
        ("1 hour and 30 minutes", 5400),
        ("1.5h", 5400),
        ("45", 45),
        ("-00:05:00", -300),
    ],
)
def test_durations_as_people_type_them(typed: str, seconds: int) -> None:
    assert parse_duration(typed) == timedelta(seconds=seconds)


@pytest.mark.parametrize(
    "typed", ["", "soon", "5 parsecs", "1:99", "10 minutes x", "9" * 300, "9" * 30 + " days"]
)
def test_what_is_not_a_duration_says_what_is(typed: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(typed)


def test_a_duration_reads_back_as_it_is_typed() -> None:
    for value in (timedelta(minutes=90), timedelta(days=2, seconds=5), timedelta(0)):
        assert parse_duration(duration(value)) == value


@pytest.mark.parametrize(
    "field,typed,words",
    [
        ("run_every", "soon", "Repeat every: write a duration"),
        ("timeout", "9" * 30 + " days", "Time limit:"),
        ("misfire_grace", "5 parsecs", "Misfire grace: “parsecs” is not a unit"),
        ("run_every", "999999999 days", "“Repeat every” must be at most 36500 days"),
        ("timeout", "0 s", "“Time limit” must be longer than zero"),
        ("run_count_limit", "9" * 40, "Run count limit: Ensure this value"),
        ("run_count_limit", "many", "Run count limit: Enter a whole number"),
        ("active_date_begin", "2027-02-30", "First active day: Enter a valid date"),
        ("weekly_time", "25:00", "Weekly time: Enter a valid time"),
        ("first_run_at_0", "2027-99-99", "First run at: Enter a valid date"),
        ("arguments", "[" * 5000 + "]" * 5000, "Arguments: lists and objects nest deeper"),
    ],
)
def test_bad_inputs_are_field_errors_naming_the_label(
    frozen, admin_client, weekly_job, field, typed, words
) -> None:
    before = Job.objects.filter(pk=weekly_job.pk).values().get()
    data = job_form(weekly_job, **{"function": REPORT, "arguments": '["ops"]', field: typed})
    if field == "first_run_at_0":
        data["first_run_at_1"] = "08:00:00"
    admin_client.raise_request_exception = False
    response = admin_client.post(change_url(weekly_job), data)
    assert response.status_code == 200
    form = response.context["adminform"].form
    shown = " ".join(str(e) for errors in form.errors.values() for e in errors)
    assert words in shown, form.errors
    assert Job.objects.filter(pk=weekly_job.pk).values().get() == before


def test_every_schedule_error_comes_at_once(frozen, admin_client, weekly_job) -> None:
    data = job_form(
        weekly_job,
        weekly_days=[],
        monthly_time="06:00",
        cron="61 * * * *",
        timezone="Mars/Olympus",
        run_every="-5 minutes",
    )
    response = admin_client.post(change_url(weekly_job), data)
    errors = errors_of(response)
    for field in ("weekly_days", "monthly_days", "cron", "timezone", "run_every"):
        assert errors(field), field


# -- the stored code, shown and kept -------------------------------------------------------------


def test_changing_the_arguments_keeps_the_function(frozen, admin_client, weekly_job) -> None:
    page = admin_client.get(change_url(weekly_job))
    form = page.context["adminform"].form
    data = job_form(weekly_job, function=form.initial["function"], arguments='["finance"]')
    assert admin_client.post(change_url(weekly_job), data).status_code == 302
    code = Job.objects.get(pk=weekly_job.pk).job_code_object
    assert (code.callable, code.args) == (REPORT, ("finance",))


def test_saving_unchanged_code_writes_no_new_code(frozen, admin_client, weekly_job) -> None:
    version = Job.objects.get(pk=weekly_job.pk)._code_version
    data = job_form(weekly_job, function=REPORT, arguments='["ops"]', name="renamed")
    assert admin_client.post(change_url(weekly_job), data).status_code == 302
    job = Job.objects.get(pk=weekly_job.pk)
    assert (job.name, job._code_version) == ("renamed", version)


def test_a_viewer_sees_the_function_and_its_arguments(frozen, viewer_client, weekly_job) -> None:
    job = Job.objects.get(pk=weekly_job.pk)
    job.job_code_object = JobCallable(REPORT, "ops", copies=2)
    job.save()
    page = viewer_client.get(change_url(job)).content.decode()
    assert "Send report" in page or REPORT in page
    assert "[&quot;ops&quot;]" in page
    assert "{&quot;copies&quot;: 2}" in page
    assert "Function: None" not in page


def test_code_made_in_python_is_named_and_kept(frozen, admin_client) -> None:
    job = Job(name="python", run_every=timedelta(hours=1))
    job.job_code_object = JobCallable(print, "hi")
    job.save()
    stored = read(job._job_code, job=job.pk, version=job._code_version)
    assert stored.path == "builtins.print" and not stored.editable
    blob = bytes(job._job_code)
    data = job_form(job, name="python", run_every="1 hour")
    assert admin_client.post(change_url(job), data).status_code == 302
    assert bytes(Job.objects.get(pk=job.pk)._job_code) == blob


# -- first run at ----------------------------------------------------------------------------------


def test_first_run_at_sets_where_the_interval_lands(frozen) -> None:
    start = datetime(2027, 6, 8, 8, 0, tzinfo=UTC)
    job = Job(name="quarter hours", run_every=timedelta(minutes=15), first_run_at=start)
    job.job_code_object = JobCallable(REPORT, "ops")
    job.save()
    assert job.upcoming(3) == [start + timedelta(minutes=15 * k) for k in range(3)]
    # A first run time in the past keeps the grid: the next run is on it.
    job.first_run_at = datetime(2027, 6, 1, 8, 7, tzinfo=UTC)
    job.save()
    assert job.upcoming(1) == [datetime(2027, 6, 7, 9, 7, tzinfo=UTC)]


def test_without_first_run_at_the_interval_counts_from_the_save(frozen) -> None:
    job = Job(name="hourly", run_every=timedelta(hours=1))
    job.job_code_object = JobCallable(REPORT, "ops")
    job.save()
    assert job.upcoming(1) == [frozen + timedelta(hours=1)]


# -- warnings --------------------------------------------------------------------------------------


def test_a_job_with_no_source_is_saved_with_a_warning(frozen, admin_client) -> None:
    data = job_form(name="nothing", function=REPORT, arguments='["ops"]')
    response = admin_client.post(ADD, data, follow=True)
    texts = [str(m) for m in response.context["messages"]]
    assert any("has no schedule" in t for t in texts), texts
    assert Job.objects.filter(name="nothing").exists()


def test_a_job_with_only_past_dates_is_saved_with_a_warning(frozen, admin_client) -> None:
    data = job_form(name="past", function=REPORT, arguments='["ops"]')
    data.update(
        {
            "dates-TOTAL_FORMS": "1",
            "dates-0-job_datetime_0": "2020-01-01",
            "dates-0-job_datetime_1": "06:00:00",
        }
    )
    response = admin_client.post(ADD, data, follow=True)
    texts = [str(m) for m in response.context["messages"]]
    assert any("dates are in the past" in t for t in texts), texts


def test_a_job_that_will_run_is_saved_without_a_warning(frozen, admin_client, weekly_job) -> None:
    response = admin_client.post(change_url(weekly_job), job_form(weekly_job), follow=True)
    assert not [m for m in response.context["messages"] if m.level_tag == "warning"]


# -- run again -------------------------------------------------------------------------------------


def run_of(job: Job) -> JobRun:
    return JobRun.objects.create(
        job=job, job_name=job.name, scheduled=datetime(2027, 6, 1, tzinfo=UTC), status="failed"
    )


def test_run_again_is_the_run_now_request(frozen, admin_client, weekly_job) -> None:
    run = run_of(weekly_job)
    url = reverse("admin:akjob_jobrun_run_again", args=[run.pk])
    assert admin_client.get(url).status_code == 405  # a change: POST only
    response = admin_client.post(url, follow=True)
    assert "no akjobd is running" in str(list(response.context["messages"])[0])
    DaemonRecord.objects.create(host="h", pid=1, started=frozen, heartbeat=frozen)
    response = admin_client.post(url, follow=True)
    assert "is due now" in str(list(response.context["messages"])[0])
    assert Job.objects.get(pk=weekly_job.pk)._next_run == frozen


def test_run_again_needs_the_change_permission(frozen, viewer_client, weekly_job) -> None:
    run = run_of(weekly_job)
    page = viewer_client.get(reverse("admin:akjob_jobrun_change", args=[run.pk]))
    assert "akjob-run-again" not in page.content.decode()
    url = reverse("admin:akjob_jobrun_run_again", args=[run.pk])
    assert viewer_client.post(url).status_code == 403


# -- the job list, the daemons ---------------------------------------------------------------------


def test_the_list_reads_the_run_in_progress(frozen, admin_client, weekly_job) -> None:
    JobRun.objects.create(
        job=weekly_job,
        scheduled=frozen,
        started=frozen,
        status="running",
        running_for=weekly_job.pk,
    )
    page = admin_client.get(LIST).content.decode()
    assert "since 09:00:00 UTC" in page
    assert "icon-no.svg" not in page.split('class="field-running"')[1][:200]


def test_the_list_says_when_no_akjobd_is_alive(frozen, admin_client, weekly_job) -> None:
    page = admin_client.get(LIST).content.decode()
    assert "No akjobd is running" in page
    DaemonRecord.objects.create(host="h", pid=1, started=frozen, heartbeat=frozen)
    assert "No akjobd is running" not in admin_client.get(LIST).content.decode()


def test_a_crashed_akjobd_is_shown_crashed(frozen, admin_client) -> None:
    DaemonRecord.objects.create(
        host="h", pid=1, started=frozen - timedelta(days=1), heartbeat=frozen - timedelta(hours=2)
    )
    DaemonRecord.objects.create(host="h", pid=2, started=frozen, heartbeat=frozen, stopped=frozen)
    page = admin_client.get(reverse("admin:akjob_daemonrecord_changelist")).content.decode()
    assert "crashed" in page and "silent for 2 hours" in page
    assert "stopped" in page


# -- the upcoming page -----------------------------------------------------------------------------


def test_upcoming_is_listed_on_the_index_for_viewers(frozen, viewer_client) -> None:
    page = viewer_client.get(reverse("admin:index")).content.decode()
    assert "Upcoming runs" in page
    response = viewer_client.get(reverse("admin:akjob_upcomingrun_changelist"))
    assert response.status_code == 302 and response["Location"].endswith(UPCOMING)


def test_upcoming_filters_by_job_and_pages(frozen, admin_client, weekly_job) -> None:
    busy = Job(name="ten minutes", run_every=timedelta(minutes=10))
    busy.job_code_object = JobCallable(REPORT, "ops")
    busy.save()
    response = admin_client.get(UPCOMING, {"job": busy.pk, "hours": 48})
    assert response.context["run_count"] == 288
    assert len(response.context["rows"]) == 100
    assert response.context["page"].paginator.num_pages == 3
    last = admin_client.get(UPCOMING, {"job": busy.pk, "hours": 48, "page": 3})
    assert len(last.context["rows"]) == 88


@pytest.mark.parametrize(
    "query,label",
    [({"job": "99999"}, "Job"), ({"job": "x"}, "Job"), ({"hours": "9" * 30}, "Hours")],
)
def test_upcoming_refuses_bad_filters_by_label(frozen, admin_client, query, label) -> None:
    response = admin_client.get(UPCOMING, query)
    assert response.status_code == 400
    assert f"{label}:" in response.content.decode()


# -- words -----------------------------------------------------------------------------------------


def test_cron_in_words_with_and_without_cron_descriptor(monkeypatch) -> None:
    import builtins

    assert "06:30" in cron_words.describe_cron("30 6 * * 1-5")
    assert "not a valid cron expression" in cron_words.describe_cron("61 * * * *")
    real = builtins.__import__

    def without(name, *args, **kwargs):
        if name.startswith("cron_descriptor"):
            raise ImportError(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", without)
    assert cron_words.describe_cron("30 6 * * 1-5") == "minute 30; hour 6; weekday 1-5"


def test_the_same_words_in_the_admin_and_akjobd() -> None:
    from akjob import cli

    assert cli.when is when
    assert when(datetime(2027, 6, 7, 11, tzinfo=UTC)) == "2027-06-07 11:00:00 UTC"


def test_labels_replace_field_names_in_reasons(frozen, admin_client) -> None:
    job = Job(name="never", weekly_time=time(6, 0), run_count_limit=1)
    job.weekly_days_list = [2]
    job.job_code_object = JobCallable(REPORT, "ops")
    job.save()
    Job.objects.filter(pk=job.pk).update(_run_count=1, _next_run=None)
    page = admin_client.get(LIST).content.decode()
    assert "“run count limit” is reached" in page
    assert "run_count_limit" not in page


def test_permissions_still_hold_for_the_new_entry(db, client) -> None:
    from django.contrib.auth.models import User

    staff = User.objects.create_user("staff", is_staff=True)
    client.force_login(staff)
    assert "Upcoming runs" not in client.get(reverse("admin:index")).content.decode()
    staff.user_permissions.add(Permission.objects.get(codename="view_job"))
    assert "Upcoming runs" in client.get(reverse("admin:index")).content.decode()
