"""A run whose code object was copied from another job, or put back from an older version, is
recorded failed with the reason, and the daemon goes on (docs/security.md)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from akjob.daemon.loop import Daemon
from akjob.daemon.supervisor import InlineSupervisor
from akjob.models import Job, JobRun
from tests.daemon import jobcode
from tests.daemon.steps import T0, make

pytestmark = pytest.mark.django_db
Status = JobRun.Status


@pytest.fixture
def daemon(clock):
    return Daemon(clock=clock, supervisor=InlineSupervisor(size=4), max_workers=4)


def code_of(job: Job) -> tuple[bytes, int]:
    fresh = Job.objects.get(pk=job.pk)
    return bytes(fresh._job_code), fresh._code_version


def test_copied_and_restored_code_objects_fail_their_runs(daemon, clock):
    source = make(run_every=timedelta(hours=1), name="source")
    copied = make(run_every=timedelta(seconds=10), name="copied")
    restored = make(run_every=timedelta(seconds=10), name="restored")
    fine = make(run_every=timedelta(seconds=10), name="fine")
    blob, version = code_of(source)
    Job.objects.filter(pk=copied.pk).update(_job_code=blob, _code_version=version)
    old_blob, _ = code_of(restored)
    again = Job.objects.get(pk=restored.pk)
    again.job_code_object = jobcode.Counter()
    again.save(now=T0)
    Job.objects.filter(pk=restored.pk).update(_job_code=old_blob)
    clock.set(T0 + timedelta(seconds=10))
    daemon.run_once(clock.now())
    run = JobRun.objects.get(job=copied)
    assert run.status == Status.FAILED
    assert f"signed for job {source.pk}, not for job {copied.pk}" in run.error
    run = JobRun.objects.get(job=restored)
    assert run.status == Status.FAILED
    assert "version 1 but job" in run.error and "older code object" in run.error
    assert JobRun.objects.get(job=fine).status == Status.SUCCEEDED
