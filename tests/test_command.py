"""``manage.py akjobd``: the job actions, the daemon actions' answers, and exit statuses."""

from __future__ import annotations

import io
import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from akjob.daemon.pidfile import PidFile
from akjob.models import DayOfMonth, DayOfWeek, Job, JobCallable, JobRun, Months
from tests.acceptance.project import Project, make_project, migrated_database

NOW = datetime(2027, 6, 7, 9, 0, 0, tzinfo=UTC)


def akjobd(*args: str) -> str:
    out = io.StringIO()
    call_command("akjobd", *args, stdout=out)
    return out.getvalue()


def failure(*args: str) -> CommandError:
    with pytest.raises(CommandError) as info:
        akjobd(*args)
    return info.value


@pytest.fixture
def clock(time_machine) -> None:  # type: ignore[no-untyped-def]
    time_machine.move_to(NOW, tick=False)


@pytest.fixture
def job(db: None, clock: None) -> Job:
    job = Job(name="Print Hello World", run_every=timedelta(hours=2), _last_interval=NOW)
    job.job_code_object = JobCallable(print, "Hello", "World")
    job.run_count_limit = 50
    job.save()
    return job


@pytest.fixture
def pid_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("AKJOB_PID_DIR", str(tmp_path / "run"))
    monkeypatch.setenv("AKJOB_LOG_DIR", str(tmp_path / "logs"))
    monkeypatch.delenv("AKJOB_PID_NAME", raising=False)
    return tmp_path / "run"


# -- job actions ----------------------------------------------------------------------------------


def test_joblist_empty(db: None) -> None:
    assert akjobd("joblist").strip() == "No jobs."


def test_joblist_table(job: Job) -> None:
    other = Job(name="Disabled one", run_every=timedelta(minutes=5), job_enabled=False)
    other.save()
    lines = akjobd("joblist").splitlines()
    assert lines[0].split() == ["id", "name", "enabled", "next", "run", "last", "run", "last"] + [
        "result",
        "running",
        "runs",
        "schedule",
    ]
    assert set(lines[1]) <= {"-", " "}
    assert re.match(rf"{job.pk} +Print Hello World +yes ", lines[2])
    assert "2027-06-07 11:00:00 UTC" in lines[2]
    assert "0/50" in lines[2]
    assert job.describe() in lines[2]
    assert re.match(rf"{other.pk} +Disabled one +no ", lines[3])


def test_disablejob_and_enablejob(job: Job) -> None:
    assert "disabled" in akjobd("disablejob", "-id", str(job.pk))
    fresh = Job.objects.get(pk=job.pk)
    assert fresh.job_enabled is False and fresh._next_run is None
    out = akjobd("enablejob", "--id", str(job.pk))
    assert (
        out.strip()
        == f"Job {job.pk} (Print Hello World) enabled; next run 2027-06-07 11:00:00 UTC."
    )
    assert Job.objects.get(pk=job.pk).job_enabled is True


def test_deletejob(job: Job) -> None:
    assert akjobd("deletejob", "-id", str(job.pk)).strip() == (
        f"Job {job.pk} (Print Hello World) deleted."
    )
    assert not Job.objects.filter(pk=job.pk).exists()


def add_runs(job: Job) -> None:
    JobRun.objects.create(
        job=job,
        job_name=job.name,
        scheduled=NOW - timedelta(hours=4),
        started=NOW - timedelta(hours=4),
        finished=NOW - timedelta(hours=4) + timedelta(seconds=3),
        status=JobRun.Status.SUCCEEDED,
    )
    JobRun.objects.create(
        job=job,
        job_name=job.name,
        scheduled=NOW - timedelta(hours=2),
        started=NOW - timedelta(hours=2),
        finished=NOW - timedelta(hours=2) + timedelta(seconds=1),
        status=JobRun.Status.FAILED,
        error='Traceback (most recent call last):\n  File "x.py", line 1\nValueError: boom\n',
    )


def test_showinfo(job: Job) -> None:
    add_runs(job)
    out = akjobd("showinfo", "-id", str(job.pk))
    assert out.startswith(f"Job {job.pk}: Print Hello World\nschedule: {job.describe()}\n")
    for field in ("name", "run_every", "job_enabled", "run_count_limit", "_run_count"):
        assert f"\n{field} " in out
    assert "\nweekly_days_list " in out and "\ndates_list " in out
    assert "JobCallable(print, 'Hello', 'World')" in out
    upcoming = out.split("Next 10 run times:\n")[1].split("\n\n")[0].splitlines()
    assert len(upcoming) == 10
    assert upcoming[0].strip() == "2027-06-07 11:00:00 UTC"
    assert upcoming[-1].strip() == "2027-06-08 05:00:00 UTC"
    last_runs = out.split("Last runs:\n")[1]
    assert "failed" in last_runs and "ValueError: boom" in last_runs
    assert last_runs.index("failed") < last_runs.index("succeeded")


def test_showinfo_of_a_job_whose_code_cannot_be_loaded(job: Job) -> None:
    Job.objects.filter(pk=job.pk).update(_job_code=b"akjob:1:3.11:bad:payload")
    out = akjobd("showinfo", "-id", str(job.pk))
    assert "job_code_object" in out and "cannot be loaded" in out


def test_history_newest_first(job: Job) -> None:
    add_runs(job)
    lines = akjobd("history", "-id", str(job.pk)).splitlines()
    assert lines[0] == f"Runs of job {job.pk} (Print Hello World), newest first:"
    assert lines[1].split() == ["scheduled", "started", "finished", "status", "error"]
    assert lines[3].startswith("2027-06-07 07:00:00 UTC") and "failed" in lines[3]
    assert lines[3].endswith("ValueError: boom")
    assert lines[4].startswith("2027-06-07 05:00:00 UTC") and "succeeded" in lines[4]


def test_history_shows_the_outcome_of_a_handed_over_task(job: Job) -> None:
    JobRun.objects.create(
        job=job,
        job_name=job.name,
        scheduled=NOW - timedelta(hours=1),
        status=JobRun.Status.SUCCEEDED,
        task_backend="default",
        task_result_id="r-1",
        task_status="RUNNING",
    )
    lines = akjobd("history", "-id", str(job.pk)).splitlines()
    assert "succeeded, task running" in lines[3]


def test_history_without_runs(job: Job) -> None:
    assert akjobd("history", "-id", str(job.pk)).splitlines()[1] == "none"


def test_reloadfixture_repairs_the_day_tables_and_keeps_the_jobs_day_sets(db: None) -> None:
    job = Job(name="monthly", monthly_time=datetime(2027, 1, 1, 1, 0).time())
    job.monthly_days_list = [1, 15]
    job.save()
    DayOfMonth.objects.create(day=32)
    DayOfWeek.objects.filter(day=3).delete()
    Months.objects.filter(month__gt=10).delete()
    out = akjobd("reloadfixture")
    assert out.strip() == "Day tables reloaded: 3 rows added, 1 removed."
    assert list(DayOfMonth.objects.values_list("day", flat=True)) == list(range(1, 32))
    assert list(DayOfWeek.objects.values_list("day", flat=True)) == list(range(1, 8))
    assert list(Months.objects.values_list("month", flat=True)) == list(range(1, 13))
    assert Job.objects.get(pk=job.pk).monthly_days_list == [1, 15]


# -- errors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("action", ["enablejob", "disablejob", "deletejob", "showinfo", "history"])
def test_unknown_id(db: None, action: str) -> None:
    error = failure(action, "-id", "999999")
    assert str(error) == "no job with id 999999"
    assert error.returncode == 1


@pytest.mark.parametrize(
    "action", ["enablejob", "disablejob", "deletejob", "showinfo", "history", "runjob"]
)
def test_missing_id(db: None, action: str) -> None:
    error = failure(action)
    assert str(error) == f"{action} needs a job id: {action} N (or -id N)"
    assert error.returncode == 2


def test_unknown_action() -> None:
    error = failure("explode")
    assert str(error).startswith("unknown action 'explode'; use one of: start, stop")
    assert error.returncode == 2


def test_malformed_id() -> None:
    error = failure("showinfo", "-id", "abc")
    assert "invalid job id 'abc'" in str(error)
    assert error.returncode == 2


def test_runjob_unknown_id(db: None) -> None:
    assert failure("runjob", "-id", "999999").returncode == 1


# -- daemon actions that need no fork -------------------------------------------------------------


def test_status_when_not_running(pid_dir: Path) -> None:
    error = failure("status")
    assert str(error) == "akjobd is not running"
    assert error.returncode == 3


def test_stop_when_not_running_is_fine(pid_dir: Path) -> None:
    assert akjobd("stop").strip() == "akjobd is not running"


@pytest.fixture
def held(pid_dir: Path) -> Iterator[PidFile]:
    """This test process pretends to be akjobd by holding the pid file."""
    with PidFile(pid_dir / "akjobd.pid") as pidfile:
        yield pidfile


def test_start_when_already_running(held: PidFile) -> None:
    assert akjobd("start").strip() == f"akjobd is already running (pid {os.getpid()})"


def test_start_with_explicit_pid_options(held: PidFile, tmp_path: Path) -> None:
    other = PidFile(tmp_path / "elsewhere" / "other.pid")
    with other:
        out = akjobd("start", "-pd", str(tmp_path / "elsewhere"), "-pn", "other.pid")
    assert out.strip() == f"akjobd is already running (pid {os.getpid()})"


def test_run_when_already_running_is_an_error(held: PidFile, db: None) -> None:
    error = failure("run")
    assert str(error) == f"akjobd is already running (pid {os.getpid()})"
    assert error.returncode == 1


def test_status_when_running(held: PidFile, db: None) -> None:
    out = akjobd("status")
    assert out.startswith(f"akjobd is running (pid {os.getpid()})\n")
    assert f"pid file: {held.path}" in out
    assert "runs in progress: 0" in out
    assert "next due:" in out


# -- as a real command: one line on stderr, the exit status ---------------------------------------


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    database = migrated_database(tmp_path_factory.mktemp("base"))
    return make_project(tmp_path_factory.mktemp("project"), database)


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["explode"], 2, "unknown action 'explode'"),
        ([], 2, "required: ACTION"),
        (["showinfo"], 2, "showinfo needs a job id"),
        (["showinfo", "-id", "abc"], 2, "invalid job id 'abc'"),
        (["showinfo", "abc"], 2, "invalid job id 'abc'"),
        (["showinfo", "1", "-id", "2"], 2, "two different job ids"),
        (["stop", "--json"], 2, "--json is for joblist, showinfo, history, status"),
        (["help", "explode"], 2, "help: unknown action 'explode'"),
        (["showinfo", "-id", "999999"], 1, "no job with id 999999"),
        (["runjob", "-id", "999999"], 1, "no job with id 999999"),
        (["deletejob", "--id", "999999"], 1, "no job with id 999999"),
        (["status"], 3, "akjobd is not running"),
        (["joblist", "--frobnicate"], 2, "unrecognized arguments"),
    ],
)
def test_errors_are_one_line_on_stderr(
    project: Project, args: list[str], code: int, message: str
) -> None:
    result = project.manage("akjobd", *args, "-pd", str(project.pid_dir), check=False)
    assert result.returncode == code
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "args", [["showinfo", "--help"], ["start", "-h"], ["help", "start"], ["history", "3", "--help"]]
)
def test_action_help_from_the_command_line(project: Project, args: list[str]) -> None:
    result = project.manage("akjobd", *args, check=False)
    action = next(a for a in args if a != "help")
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.startswith(f"usage: manage.py akjobd {action}")


def test_the_command_help_lists_the_actions(project: Project) -> None:
    result = project.manage("akjobd", "--help")
    assert "akjobd help ACTION" in result.stdout
    assert "\n  joblist " in result.stdout


def test_stop_when_not_running_exits_0(project: Project) -> None:
    result = project.akjobd("stop")
    assert (result.returncode, result.stdout, result.stderr) == (0, "akjobd is not running\n", "")


def test_runjob_runs_the_job_when_no_daemon_runs(project: Project) -> None:
    create = (
        "from akjob.models import Job, JobCallable\n"
        "job = Job(name='say hello', run_every=__import__('datetime').timedelta(hours=1))\n"
        "job.job_code_object = JobCallable(print, 'hello from runjob')\n"
        "job.save()\n"
        "print(job.pk)\n"
    )
    made = project.manage("shell", "-c", create)
    assert made.returncode == 0, made.stderr
    job_id = made.stdout.strip().splitlines()[-1]
    result = project.manage("akjobd", "runjob", "-id", job_id, "-pd", str(project.pid_dir))
    assert result.returncode == 0, result.stderr
    assert "succeeded" in result.stdout.splitlines()[-1]
    history = project.manage("akjobd", "history", "-id", job_id)
    assert "succeeded" in history.stdout.splitlines()[3]


def test_an_unmigrated_database_is_one_line_too(tmp_path: Path) -> None:
    bare = make_project(tmp_path / "bare")
    result = bare.manage("akjobd", "joblist", check=False)
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "joblist: no such table" in result.stderr
