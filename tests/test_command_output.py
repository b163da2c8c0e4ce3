"""``manage.py akjobd`` for people and scripts: the job id however it is given, help for each
action, the last result and running state in ``joblist``, reasons in the admin's words, times
with their zone, and ``--json``."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, time, timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings

from akjob import clihelp
from akjob.admin.job_page import run_times
from akjob.jobschedule import NO_CODE
from akjob.management.commands.akjobd import ACTIONS
from akjob.models import Job, JobCallable, JobRun

NOW = datetime(2027, 6, 7, 9, 0, 0, tzinfo=UTC)
Status = JobRun.Status


def akjobd(*args: str) -> str:
    out = io.StringIO()
    call_command("akjobd", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def clock(time_machine) -> None:  # type: ignore[no-untyped-def]
    time_machine.move_to(NOW, tick=False)


@pytest.fixture
def job(db: None, clock: None) -> Job:
    job = Job(name="hello", run_every=timedelta(hours=2), _last_interval=NOW)
    job.job_code_object = JobCallable(print, "Hello")
    job.save()
    return job


def add_run(job: Job, hours_ago: int, status: str, error: str = "") -> JobRun:
    at = NOW - timedelta(hours=hours_ago)
    finished = None if status == Status.RUNNING else at + timedelta(seconds=1)
    return JobRun.objects.create(
        job=job, job_name=job.name, scheduled=at, started=at, finished=finished, status=status,
        error=error,
    )  # fmt: skip


# -- the job id ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [["-id", "{id}"], ["--id", "{id}"], ["{id}"], ["{id}", "-id", "{id}"], ["-ld", "/x", "{id}"]],
)
def test_the_job_id_is_taken_as_an_option_or_after_the_action(job: Job, args: list[str]) -> None:
    given = [a.format(id=job.pk) for a in args]
    assert akjobd("showinfo", *given).startswith(f"Job {job.pk}: hello\n")


def test_two_different_ids_are_a_usage_error(job: Job) -> None:
    with pytest.raises(CommandError) as info:
        akjobd("history", str(job.pk), "--id", str(job.pk + 1))
    assert info.value.returncode == 2


# -- help ----------------------------------------------------------------------------------------


def test_every_action_has_its_help() -> None:
    assert set(clihelp.ACTION_HELP) == set(ACTIONS)


def test_help_lists_the_actions_and_explains_one() -> None:
    overview = akjobd("help")
    for action in ACTIONS:
        assert f"\n  {action} " in overview
    text = akjobd("help", "showinfo")
    assert text.startswith("usage: manage.py akjobd showinfo ID")
    assert "in the admin's words" in text


# -- joblist: last result, running ---------------------------------------------------------------


def test_joblist_shows_the_last_result_and_a_run_in_progress(job: Job) -> None:
    idle = Job(name="idle", run_every=timedelta(hours=1), job_code_object=JobCallable(print))
    idle.save()
    add_run(job, 6, Status.SUCCEEDED)
    add_run(job, 4, Status.FAILED, "Traceback (most recent call last):\nValueError: boom\n")
    add_run(job, 0, Status.RUNNING)
    lines = akjobd("joblist").splitlines()
    header = lines[0]
    result_at, running_at = header.index("last result"), header.index("running")
    assert lines[2][result_at:].startswith("failed")
    assert lines[2][running_at:].startswith("yes")
    assert lines[3][result_at:].startswith("-")
    assert lines[3][running_at:].startswith("no")


# -- reasons -------------------------------------------------------------------------------------


def never(**fields: object) -> Job:
    job = Job(name="never", weekly_time=time(6, 0), **fields)
    job.weekly_days_list = [2]
    job.active_weekly_days_list = [3]
    job.save()
    return job


def reason_line(text: str) -> str:
    (line,) = [line for line in text.splitlines() if line.startswith("No next run: ")]
    return line.removeprefix("No next run: ")


def test_showinfo_gives_the_admin_s_reason_for_a_job_that_can_never_run(clock: None, db) -> None:
    job = never(job_code_object=JobCallable(print))
    reason = run_times(Job.objects.get(pk=job.pk)).reason
    assert reason and "allow no day" in reason
    assert reason_line(akjobd("showinfo", str(job.pk))) == reason


def test_a_job_without_code_says_so_in_showinfo_and_the_admin(clock: None, db) -> None:
    job = Job(name="no code", run_every=timedelta(minutes=1))
    job.save()
    assert Job.objects.get(pk=job.pk)._next_run is None
    assert run_times(job).reason == NO_CODE
    out = akjobd("showinfo", str(job.pk))
    assert reason_line(out) == NO_CODE
    assert "Next 10 run times:\n  none\n" in out


# -- zones ---------------------------------------------------------------------------------------


@override_settings(AKJOB_DEFAULT_TIMEZONE="Europe/Paris")
def test_times_are_shown_with_their_zone(job: Job) -> None:
    add_run(job, 4, Status.SUCCEEDED)
    denver = Job(
        name="denver",
        timezone="America/Denver",
        run_every=timedelta(hours=1),
        _last_interval=NOW,
        job_code_object=JobCallable(print),
    )
    denver.save()
    listing = akjobd("joblist")
    assert "2027-06-07 13:00:00+02:00 Europe/Paris" in listing  # 11:00 UTC
    assert "2027-06-07 04:00:00-06:00 America/Denver" in listing  # 10:00 UTC
    info = akjobd("showinfo", str(job.pk))
    assert "\ntime zone: Europe/Paris\n" in info
    assert "  2027-06-07 15:00:00+02:00 Europe/Paris" in info
    history = akjobd("history", str(job.pk))
    assert "2027-06-07 07:00:00+02:00 Europe/Paris" in history  # scheduled 05:00 UTC


def test_times_are_in_utc_by_default(job: Job) -> None:
    assert "2027-06-07 11:00:00 UTC" in akjobd("joblist")


# -- JSON ----------------------------------------------------------------------------------------


def test_joblist_json(job: Job) -> None:
    add_run(job, 4, Status.SUCCEEDED)
    (row,) = json.loads(akjobd("joblist", "--json"))
    assert row == {
        "id": job.pk,
        "name": "hello",
        "enabled": True,
        "next_run": "2027-06-07T11:00:00+00:00",
        "last_run": None,
        "last_result": "succeeded",
        "running": False,
        "run_count": 0,
        "run_count_limit": None,
        "schedule": job.describe(),
        "timezone": "UTC",
    }


def test_showinfo_json(job: Job) -> None:
    add_run(job, 4, Status.FAILED, "Traceback (most recent call last):\nValueError: boom\n")
    info = json.loads(akjobd("showinfo", str(job.pk), "--json"))
    assert info["id"] == job.pk and info["last_result"] == "failed"
    assert info["next_runs"][:2] == ["2027-06-07T11:00:00+00:00", "2027-06-07T13:00:00+00:00"]
    assert len(info["next_runs"]) == 10 and info["no_run_reason"] is None
    assert info["fields"]["run_every"] == 7200.0
    assert info["fields"]["weekly_days_list"] == []
    assert info["fields"]["job_code_object"] == "JobCallable(print, 'Hello')"
    (run,) = info["last_runs"]
    assert run["status"] == "failed" and run["error_line"] == "ValueError: boom"
    assert run["started"] == "2027-06-07T05:00:00+00:00"


def test_showinfo_json_of_a_job_that_never_runs(clock: None, db) -> None:
    job = never()
    info = json.loads(akjobd("showinfo", "--id", str(job.pk), "--json"))
    assert info["next_runs"] == [] and info["no_run_reason"] == NO_CODE


def test_history_json(job: Job) -> None:
    add_run(job, 6, Status.SUCCEEDED)
    add_run(job, 0, Status.RUNNING)
    history = json.loads(akjobd("history", "-id", str(job.pk), "--json"))
    assert history["job"]["id"] == job.pk and history["job"]["running"] is True
    assert [r["status"] for r in history["runs"]] == ["running", "succeeded"]
    assert history["runs"][0]["finished"] is None
