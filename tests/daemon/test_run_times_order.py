"""A run record's finished time is never before its started time, even for a run claimed ahead
of its occurrence (the daemon's look-ahead) and then refused before it started.

A run whose code object is refused ends at the moment of the refusal, which comes before the
occurrence its ``started`` holds (the code is loaded before the run waits for its time): its
record says it ended when it started.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from akjob.daemon.loop import Daemon
from akjob.daemon.supervisor import InlineSupervisor
from akjob.models import Job, JobRun
from tests.daemon.steps import T0, make

pytestmark = pytest.mark.django_db
AHEAD = T0 + timedelta(minutes=5) - timedelta(seconds=0.3)  # within the look-ahead


def finished_before_started() -> list[tuple[str, str]]:
    return [
        (run.status, run.error)
        for run in JobRun.objects.all()
        if run.finished is not None and run.finished < run.started
    ]


def test_a_run_whose_code_is_refused(clock) -> None:
    daemon = Daemon(clock=clock, supervisor=InlineSupervisor(size=1), max_workers=1)
    job = make(run_every=timedelta(minutes=5))
    Job.objects.filter(pk=job.pk).update(_job_code=b"akjob:1:3.11:bad:payload")
    clock.set(AHEAD)
    daemon.run_once(clock.now())
    daemon.run_once(clock.now())
    assert JobRun.objects.filter(status=JobRun.Status.FAILED).exists()
    assert finished_before_started() == []


def test_a_run_interrupted_before_its_time(clock) -> None:
    from akjob.daemon import dispatcher

    daemon = Daemon(clock=clock, supervisor=InlineSupervisor(size=1), max_workers=1)
    make(run_every=timedelta(minutes=5))
    clock.set(AHEAD)
    daemon.register(clock.now())
    (claimed,) = dispatcher.claim_batch(
        list(Job.objects.all()), now=clock.now(), daemon=daemon.record, lease=60, pids=[0]
    )
    assert dispatcher.interrupt([claimed.run_id], reason="gone", now=clock.now()) == 1
    assert finished_before_started() == []
