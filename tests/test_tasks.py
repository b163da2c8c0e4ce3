"""TaskCall: a job whose runs are handed to Django's Tasks framework (in-process backends; the
real workers are exercised in tests/multidb/test_tasks.py)."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime, timedelta

import pytest

pytest.importorskip("tests.taskfuncs", reason="no Django Tasks framework installed")

from akjob import tasks  # noqa: E402
from akjob.daemon.loop import Daemon  # noqa: E402
from akjob.daemon.supervisor import InlineSupervisor  # noqa: E402
from akjob.models import Job, JobRun  # noqa: E402
from akjob.tasks import TaskCall  # noqa: E402
from akjob.testing import FakeClock  # noqa: E402
from tests import taskfuncs  # noqa: E402

pytestmark = pytest.mark.django_db
T0 = datetime(2027, 6, 7, 10, 0, 0, tzinfo=UTC)
DUMMY = {"default": {"BACKEND": "tests.taskfuncs.RecordingBackend"}}
IMMEDIATE = {"default": {"BACKEND": f"{taskfuncs.FRAMEWORK}.backends.immediate.ImmediateBackend"}}


@pytest.fixture
def clock(time_machine):
    time_machine.move_to(T0, tick=False)
    return FakeClock(T0)


@pytest.fixture
def daemon(clock):
    return Daemon(clock=clock, supervisor=InlineSupervisor(size=2), max_workers=2)


def make(call: TaskCall) -> Job:
    job = Job(name="handoff", run_every=timedelta(seconds=10))
    job.job_code_object = call
    job.save(now=T0)
    return job


def run_next(daemon: Daemon, clock: FakeClock, job: Job) -> JobRun:
    clock.advance(10)
    daemon.run_once(clock.now())
    return JobRun.objects.filter(job=job).latest("scheduled")


def test_only_importable_tasks_with_json_arguments() -> None:
    with pytest.raises(TypeError, match="not a Django task"):
        TaskCall(print, "x")
    with pytest.raises(ValueError, match="JSON"):
        TaskCall(taskfuncs.add, object(), 2)


def test_the_task_is_stored_by_its_path_with_its_options() -> None:
    call = TaskCall(taskfuncs.add.using(priority=5), 1, b=2)
    assert call.task_path == "tests.taskfuncs.add"
    assert call.options == {"priority": 5}
    payload = pickle.dumps(call)
    assert b"tests.taskfuncs.add" in payload and b"RecordingBackend" not in payload
    again = pickle.loads(payload)
    assert again.task().priority == 5 and again.task().func is taskfuncs.add.func
    assert repr(again) == "TaskCall(tests.taskfuncs.add.using({'priority': 5}), 1, b=2)"


def test_a_run_enqueues_and_records_the_outcome_later(daemon, clock, settings) -> None:
    settings.TASKS = DUMMY
    job = make(TaskCall(taskfuncs.add, 1, 2))
    run = run_next(daemon, clock, job)
    assert run.status == JobRun.Status.SUCCEEDED
    assert run.task_result_id and run.task_backend == "default" and run.task_status == "READY"
    backend = taskfuncs.add.get_backend()
    (result,) = backend.results
    assert result.id == run.task_result_id and list(result.args) == [1, 2]

    object.__setattr__(result, "status", type(result.status).SUCCESSFUL)
    clock.advance(daemon.heartbeat_every)
    daemon.heartbeat(clock.now())
    run.refresh_from_db()
    assert (run.status, run.task_status) == (JobRun.Status.SUCCEEDED, "SUCCESSFUL")


def test_a_task_that_failed_fails_its_run(daemon, clock, settings) -> None:
    settings.TASKS = DUMMY
    job = make(TaskCall(taskfuncs.add, 1, 2))
    run = run_next(daemon, clock, job)
    (result,) = taskfuncs.add.get_backend().results
    error = type("E", (), {"traceback": "Traceback...\nValueError: it broke"})()
    object.__setattr__(result, "status", type(result.status).FAILED)
    result.errors.append(error)
    assert tasks.refresh_results(20) == run.pk
    run.refresh_from_db()
    assert (run.status, run.task_status) == (JobRun.Status.FAILED, "FAILED")
    assert "ValueError: it broke" in run.error


def test_a_forgotten_result_is_no_longer_asked_for(daemon, clock, settings) -> None:
    settings.TASKS = DUMMY
    job = make(TaskCall(taskfuncs.add, 1, 2))
    run = run_next(daemon, clock, job)
    taskfuncs.add.get_backend().results.clear()
    tasks.refresh_results(20)
    run.refresh_from_db()
    assert run.status == JobRun.Status.SUCCEEDED and run.task_status == ""
    assert "no longer known" in run.error


def test_an_immediate_backend_reports_at_once(daemon, clock, settings) -> None:
    settings.TASKS = IMMEDIATE
    good = make(TaskCall(taskfuncs.add, 1, 2))
    bad = make(TaskCall(taskfuncs.boom))
    clock.advance(10)
    daemon.run_once(clock.now())
    ok = JobRun.objects.get(job=good)
    failed = JobRun.objects.get(job=bad)
    assert (ok.status, ok.task_status) == (JobRun.Status.SUCCEEDED, "SUCCESSFUL")
    assert (failed.status, failed.task_status) == (JobRun.Status.FAILED, "FAILED")
    assert "task boom" in failed.error


def test_refresh_visits_pending_runs_in_turn(settings) -> None:
    settings.TASKS = DUMMY
    job = Job.objects.create(name="x")
    runs = [
        JobRun.objects.create(
            job=job,
            scheduled=T0 + timedelta(seconds=i),
            status="succeeded",
            task_result_id=f"gone{i}",
            task_backend="default",
            task_status="READY",
        )
        for i in range(5)
    ]
    assert tasks.refresh_results(2) == runs[1].pk
    assert tasks.refresh_results(2, runs[1].pk) == runs[3].pk
    assert tasks.refresh_results(2, runs[3].pk) == runs[4].pk
    assert not JobRun.objects.filter(task_status="READY").exists()
