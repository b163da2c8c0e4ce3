"""Running one job now, on request (``akjobd runjob``, the admin's "Run selected jobs now")."""

from __future__ import annotations

from akjob.conf import akjob_settings
from akjob.daemon import peers
from akjob.daemon.clock import Clock, SystemClock
from akjob.daemon.loop import Daemon
from akjob.models import Job, JobRun
from akjob.timeutil import to_db


def run_job_now(job_id: int, *, clock: Clock | None = None) -> str:
    """Run a job now: through a running akjobd, or in this process when none runs."""
    from akjob.exceptions import AkjobError, JobNotFound

    clock = clock or SystemClock()
    now = clock.now().replace(microsecond=0)
    job = Job.objects.filter(pk=job_id).first()
    if job is None:
        raise JobNotFound(f"no job with id {job_id}")
    if not job.job_enabled:
        raise AkjobError(f"job {job_id} is disabled; enable it first")
    if job._job_code is None:
        from akjob.jobschedule import NO_CODE

        raise AkjobError(f"job {job_id} cannot run: {NO_CODE}")
    if job._job_running:
        raise AkjobError(f"job {job_id} is running now")
    Job.objects.filter(pk=job_id).update(_next_run=to_db(now))
    if peers.live_daemons(now):
        return f"job {job_id} is due now; akjobd starts it within {akjob_settings.poll:g} s"
    daemon = Daemon(clock=clock, max_workers=1)
    daemon.register(now)
    daemon.dispatch(now)
    while daemon.children:
        daemon.wait(0.2)
        daemon.reap(clock.now())
    daemon.shutdown()
    run = JobRun.objects.filter(job_id=job_id, scheduled=to_db(now)).first()
    if run is None:
        return f"job {job_id} did not run"
    first = run.error.strip().splitlines()[-1:] if run.error else []
    return f"job {job_id} ran in this process: {run.status}" + (f" ({first[0]})" if first else "")
