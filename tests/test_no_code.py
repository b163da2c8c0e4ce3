"""A job without a code object has nothing to run: it has no next run, is never due, says why,
and never leaves a failed run behind. Giving it a code object schedules it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from akjob.daemon.loop import Daemon
from akjob.daemon.runnow import run_job_now
from akjob.daemon.supervisor import InlineSupervisor
from akjob.exceptions import AkjobError
from akjob.jobschedule import NO_CODE, forecast
from akjob.models import Job, JobCallable, JobRun
from akjob.testing import FakeClock

pytestmark = pytest.mark.django_db

NOW = datetime(2027, 6, 7, 9, 0, 0, tzinfo=UTC)


@pytest.fixture
def clock(time_machine) -> FakeClock:  # type: ignore[no-untyped-def]
    time_machine.move_to(NOW, tick=False)
    return FakeClock(NOW)


def test_saved_without_code_it_has_no_next_run_and_says_why(clock: FakeClock) -> None:
    job = Job.objects.create(name="empty", run_every=timedelta(minutes=1))
    assert Job.objects.get(pk=job.pk)._next_run is None
    assert job.next_run() is None
    assert forecast(job, after=NOW, count=3).reason == NO_CODE
    # What the schedule alone would give is still there to look at.
    assert job.upcoming(1) == [NOW + timedelta(minutes=1)]


def test_the_seed_s_way_code_given_after_the_first_save_schedules_it(clock: FakeClock) -> None:
    job = Job.objects.create(name="later", run_every=timedelta(minutes=1))
    job.job_code_object = JobCallable(print, "now I can run")
    job.save()
    assert Job.objects.get(pk=job.pk)._next_run == NOW + timedelta(minutes=1)


def test_removing_the_code_clears_the_next_run(clock: FakeClock) -> None:
    job = Job(name="x", run_every=timedelta(minutes=1), job_code_object=JobCallable(print))
    job.save()
    assert Job.objects.get(pk=job.pk)._next_run is not None
    job.job_code_object = None
    job.save()
    assert Job.objects.get(pk=job.pk)._next_run is None


def test_the_daemon_never_runs_it(clock: FakeClock) -> None:
    job = Job.objects.create(name="empty", run_every=timedelta(seconds=1))
    daemon = Daemon(clock=clock, supervisor=InlineSupervisor(size=2), max_workers=2)
    for second in range(5):
        clock.set(NOW + timedelta(seconds=second))
        daemon.run_once(clock.now())
    daemon.shutdown()
    assert not JobRun.objects.filter(job=job).exists()
    assert Job.objects.get(pk=job.pk)._run_count == 0


def test_run_now_refuses_it(clock: FakeClock) -> None:
    job = Job.objects.create(name="empty", run_every=timedelta(minutes=1))
    with pytest.raises(AkjobError, match="has no job_code_object"):
        run_job_now(job.pk, clock=clock)
    assert not JobRun.objects.exists()
