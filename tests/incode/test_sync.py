"""Syncing the schedules declared in code: create, change, remove, rename a key, dry run, and the
operator's enable/disable standing across syncs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

import akjob
from akjob import sync
from akjob.codeobjects import JobCallable
from akjob.models import Job, JobRun
from tests.incode import funcs

pytestmark = pytest.mark.django_db

T0 = datetime(2027, 6, 7, 10, 0, 0, tzinfo=UTC)  # a Monday, 10:00 UTC
POLL = "tests.incode.funcs.poll"


def run(now: datetime = T0, **kwargs) -> sync.Report:
    return sync.sync(now=now, discover=False, **kwargs)


def declared(key: str = POLL) -> Job:
    return Job.objects.get(code_key=key)


def test_create_first_run_is_the_next_occurrence_never_now() -> None:
    akjob.scheduled(every="15m")(funcs.poll)
    akjob.scheduled(cron="0 10 * * *")(funcs.cleanup)  # due at exactly T0
    report = run()
    assert [c.action for c in report.changes] == ["create", "create"]
    poll = declared()
    assert poll._next_run == T0 + timedelta(minutes=15)
    assert poll.job_code_object == JobCallable(POLL)
    assert poll.name == POLL and poll.job_enabled and poll.in_code
    cleanup = declared("tests.incode.funcs.cleanup")
    assert cleanup._next_run == T0 + timedelta(days=1)
    assert run(T0 + timedelta(minutes=1)).changes == []  # idempotent


def test_a_changed_schedule_keeps_history_and_run_count_and_is_rescheduled() -> None:
    akjob.scheduled(every="15m", timeout="1m")(funcs.poll)
    run()
    job = declared()
    Job.objects.filter(pk=job.pk).update(_run_count=7)
    JobRun.objects.create(job=job, job_name=job.name, scheduled=T0, status="succeeded")
    from akjob import declare

    declare._declared.clear()
    akjob.scheduled(cron="30 6 * * 1-5", timezone="America/New_York", timeout="10m")(funcs.poll)
    now = T0 + timedelta(hours=1)
    report = run(now)
    (change,) = report.changes
    assert change.action == "update" and change.job_id == job.pk
    assert {"run_every", "cron", "timezone", "timeout"} <= set(change.fields)
    job = declared()
    assert job.pk == change.job_id
    assert job._run_count == 7
    assert JobRun.objects.filter(job=job).count() == 1
    assert job.run_every is None and job.cron == "30 6 * * 1-5"
    # 06:30 in New York (EDT, UTC-4) on Tuesday 8 June 2027
    assert job._next_run == datetime(2027, 6, 8, 10, 30, tzinfo=UTC)


def test_changed_arguments_replace_the_code_object() -> None:
    akjob.scheduled(key="r", every="1h", args=["daily"])(funcs.report)
    run()
    from akjob import declare

    declare._declared.clear()
    akjob.scheduled(key="r", every="1h", args=["weekly"], kwargs={"to": "sales"})(funcs.report)
    (change,) = run().changes
    assert set(change.fields) == {"code"}
    assert declared("r").job_code_object == JobCallable(
        "tests.incode.funcs.report", "weekly", to="sales"
    )


def test_removed_is_disabled_by_default_then_enabled_when_it_comes_back() -> None:
    akjob.scheduled(every="15m")(funcs.poll)
    run()
    from akjob import declare

    saved = list(declare._declared)
    declare._declared.clear()
    (change,) = run().changes
    assert change.action == "disable"
    job = declared()
    assert not job.job_enabled and job.code_removed == T0 and job._next_run is None
    assert run().changes == []  # disabled once
    declare._declared[:] = saved
    now = T0 + timedelta(hours=2)
    (change,) = run(now).changes
    assert change.action == "update"
    job = declared()
    assert job.job_enabled and job.code_removed is None
    assert job._next_run > now


def test_removed_is_deleted_with_the_setting(settings) -> None:
    settings.AKJOB_SYNC_REMOVED = "delete"
    akjob.scheduled(every="15m")(funcs.poll)
    run()
    from akjob import declare

    declare._declared.clear()
    assert [c.action for c in run().changes] == ["delete"]
    assert not Job.objects.filter(code_key=POLL).exists()


def test_a_job_made_elsewhere_is_never_touched() -> None:
    job = Job(name="by hand", run_every=timedelta(minutes=5))
    job.job_code_object = JobCallable(POLL)
    job.save(now=T0)
    run()
    job.refresh_from_db()
    assert job.job_enabled and job.code_key is None


def test_rename_key_the_old_job_goes_as_removed_the_new_one_starts_afresh() -> None:
    akjob.scheduled(key="old-name", every="15m")(funcs.poll)
    run()
    old = declared("old-name")
    from akjob import declare

    declare._declared.clear()
    akjob.scheduled(key="new-name", every="15m")(funcs.poll)
    report = run()
    assert sorted(c.action for c in report.changes) == ["create", "disable"]
    old.refresh_from_db()
    assert not old.job_enabled
    assert declared("new-name").pk != old.pk


def test_dry_run_prints_the_difference_and_changes_nothing() -> None:
    akjob.scheduled(every="15m")(funcs.poll)
    report = run(dry_run=True)
    assert report.lines()[0].startswith(f"create {POLL}: ")
    assert "run_every: None -> 0:15:00" in report.lines()[0]
    assert report.lines()[-1] == "schedules in code: 1 would change, 0 unchanged, 0 invalid"
    assert not Job.objects.exists()


def test_an_admins_disable_survives_the_next_sync() -> None:
    akjob.scheduled(every="15m")(funcs.poll)
    run()
    job = declared()
    job.job_enabled = False
    job.save()
    assert run().changes == []
    assert not declared().job_enabled
    # ... until the code itself says otherwise: enabled=False, then enabled=True again.
    from akjob import declare

    declare._declared.clear()
    akjob.scheduled(every="15m", enabled=False)(funcs.poll)
    run()
    declare._declared.clear()
    akjob.scheduled(every="15m")(funcs.poll)
    (change,) = run().changes
    assert change.fields["job_enabled"] == (False, True)
    assert declared().job_enabled


def test_an_invalid_declaration_leaves_its_job_as_it_is() -> None:
    akjob.scheduled(every="15m")(funcs.poll)
    run()
    from akjob import declare

    declare._declared.clear()
    akjob.scheduled(every="sometimes")(funcs.poll)
    report = run()
    assert report.changes == [] and len(report.invalid) == 1
    assert declared().job_enabled and declared().run_every == timedelta(minutes=15)


def test_a_django_task_is_handed_to_its_backend() -> None:
    taskfuncs = pytest.importorskip("tests.taskfuncs")
    from akjob.tasks import TaskCall

    akjob.scheduled(every="1h", args=[1, 2])(taskfuncs.add)
    run()
    code = declared("tests.taskfuncs.add").job_code_object
    assert isinstance(code, TaskCall)
    assert (code.task_path, code.args) == ("tests.taskfuncs.add", [1, 2])
    assert run().changes == []


def test_akjobd_sync_prints_the_difference(capsys, time_machine) -> None:
    time_machine.move_to(T0, tick=False)
    akjob.scheduled(every="15m")(funcs.poll)
    call_command("akjobd", "sync", "--dry-run")
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"create {POLL}")
    assert out[-1] == "schedules in code: 1 would change, 0 unchanged, 0 invalid"
    assert not Job.objects.exists()
    call_command("akjobd", "sync")
    assert capsys.readouterr().out.splitlines()[-1].startswith("schedules in code: 1 changed")
    assert declared()._next_run == T0 + timedelta(minutes=15)
    with pytest.raises(CommandError, match="--dry-run is for sync"):
        call_command("akjobd", "joblist", "--dry-run")


def test_akjobd_sync_exits_1_on_an_invalid_declaration(capsys) -> None:
    akjob.scheduled(every="never")(funcs.poll)
    with pytest.raises(CommandError) as caught:
        call_command("akjobd", "sync")
    assert caught.value.returncode == 1
    assert f"invalid {POLL}" in capsys.readouterr().out


def test_a_bad_removal_policy_is_refused(settings) -> None:
    settings.AKJOB_SYNC_REMOVED = "archive"
    with pytest.raises(CommandError, match="AKJOB_SYNC_REMOVED must be one of disable, delete"):
        call_command("akjobd", "sync")


def test_showinfo_says_where_the_job_is_declared(capsys) -> None:
    akjob.scheduled(every="15m")(funcs.poll)
    run()
    call_command("akjobd", "showinfo", str(declared().pk))
    out = capsys.readouterr().out
    assert f"declared in code: {POLL} (key {POLL}); its schedule changes with the code" in out


def test_a_broken_setting_takes_no_job_for_removed(settings) -> None:
    settings.AKJOB_SCHEDULES = {"nightly": {"function": POLL, "cron": "0 3 * * *"}}
    run()
    settings.AKJOB_SCHEDULES = [("nightly", {"function": POLL})]  # not a dict: keys unknown
    report = run()
    assert report.changes == [] and report.invalid[0].origin == "AKJOB_SCHEDULES"
    assert declared("nightly").job_enabled


def test_a_task_declared_under_its_task_decorator_is_handed_over_too() -> None:
    taskfuncs = pytest.importorskip("tests.taskfuncs")
    from akjob.tasks import TaskCall

    akjob.scheduled(every="1h", args=[1, 2])(taskfuncs.add.func)  # @task applied after
    run()
    assert isinstance(declared("tests.taskfuncs.add").job_code_object, TaskCall)
