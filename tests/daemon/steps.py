"""What the loop-step tests share: a fixed start time, jobs made at it, and runs claimed by
another daemon (the hand-moved ``clock`` fixture is in conftest.py)."""

from __future__ import annotations

from datetime import UTC, datetime

from akjob.daemon import claim as claims
from akjob.models import DaemonRecord, Job
from tests.daemon import jobcode

T0 = datetime(2027, 6, 7, 10, 0, 0, tzinfo=UTC)


def make(code=None, **fields) -> Job:
    job = Job(name=fields.pop("name", "job"), **fields)
    job.job_code_object = code or jobcode.Counter()
    job.save(now=T0)
    return Job.objects.get(pk=job.pk)


def claimed_elsewhere(job: Job, now: datetime) -> claims.Claimed:
    """The job's occurrence due at ``now``, claimed by a daemon on another host that heartbeat
    last at T0 (with a 60 s lease), as if it went silent then."""
    other = DaemonRecord.objects.create(host="elsewhere", pid=1, started=T0, heartbeat=T0)
    return claims.claim(Job.objects.get(pk=job.pk), now=now, daemon=other, lease=60, pid=1)
