"""What the loop-step tests share: a fixed start time and jobs made at it (the hand-moved
``clock`` fixture is in conftest.py)."""

from __future__ import annotations

from datetime import UTC, datetime

from akjob.models import Job
from tests.daemon import jobcode

T0 = datetime(2027, 6, 7, 10, 0, 0, tzinfo=UTC)


def make(code=None, **fields) -> Job:
    job = Job(name=fields.pop("name", "job"), **fields)
    job.job_code_object = code or jobcode.Counter()
    job.save(now=T0)
    return Job.objects.get(pk=job.pk)
