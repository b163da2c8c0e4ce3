"""What the loop-step tests share: a fixed start time, jobs made at it, and runs claimed by
another daemon (the hand-moved ``clock`` fixture is in conftest.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from akjob.daemon import dispatcher as claims
from akjob.daemon.loop import Daemon
from akjob.daemon.supervisor import InlineSupervisor, Run
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


class Holding(InlineSupervisor):
    """Takes runs and holds them in progress until a test ends them (:meth:`end`)."""

    def __init__(self, *, size: int = 2) -> None:
        super().__init__(size=size)
        self.held: list[Run] = []

    def free(self) -> int:
        return self.size - len(self.held)

    def room(self) -> int:
        return self.free()

    def start(self, claimed, pid, *, monotonic):
        run = Run(claimed, pid=pid, deadline=None)
        self.held.append(run)
        return run

    def terminate(self, run: Run, *, monotonic: float, kill_after: float) -> None:
        """Told to stop the run: noted (``terminated_at``); the test ends it."""
        if run.terminated_at is None:
            run.terminated_at = monotonic

    def end(self, run: Run, at: datetime, status: str = "succeeded") -> None:
        """The run's process exits at ``at``, with ``status`` (succeeded unless told)."""
        self.held.remove(run)
        run.output.extend(json.dumps({"status": status, "error": ""}).encode())
        run.ended = at
        self.done.append(run)

    def collect(self, now):
        done, self.done = self.done, []
        return done


def held_run(clock, **fields) -> tuple[Daemon, Holding, Job, Run]:
    """A daemon whose supervisor holds the one run it was handed, due at T0 + 10 s."""
    supervisor = Holding()
    daemon = Daemon(clock=clock, supervisor=supervisor, max_workers=2)
    job = make(**(fields or {"run_every": timedelta(seconds=10)}))
    clock.set(T0 + timedelta(seconds=10))
    daemon.run_once(clock.now())
    (run,) = supervisor.held
    return daemon, supervisor, job, run
