"""Running one job now, on request (``akjobd runjob``, the admin's "Run selected jobs now").

A request, not a second daemon: the job is made due now, within its enabled state and its run
count limit, and a live akjobd starts it. Only ``akjobd runjob`` with no akjobd alive runs the job
itself, that job alone, in a process of its own recorded like any run; the admin never does (a
web process must not run jobs) and says that no akjobd is running.
"""

from __future__ import annotations

from akjob.conf import akjob_settings
from akjob.daemon import store
from akjob.daemon.clock import Clock, SystemClock
from akjob.daemon.dispatcher import ALLOW, HOLDING
from akjob.exceptions import AkjobError, JobNotFound
from akjob.models import Job, JobRun
from akjob.timeutil import to_db

NO_DAEMON = "no akjobd is running: start it (manage.py akjobd start), then run the job again"


def refusal(job: Job) -> str | None:
    """Why the job cannot run now, or None."""
    if not job.job_enabled:
        return f"job {job.pk} is disabled; enable it first"
    if job.run_count_limit is not None and job._run_count >= job.run_count_limit:
        return (
            f"job {job.pk} has used up its run count limit ({job._run_count} of "
            f"{job.run_count_limit} runs); raise the limit first"
        )
    if job._job_code is None:
        return f"job {job.pk} has no job_code_object"
    if job.overlap in HOLDING and job._job_running:
        return f"job {job.pk} is running now (its overlap policy is {job.overlap})"
    if job.overlap == ALLOW:
        busy = JobRun.objects.filter(job_id=job.pk, status=JobRun.Status.RUNNING).count()
        if busy >= job.max_instances:
            return (
                f"job {job.pk} has {busy} run(s) in progress, as many as its runs at once "
                f"(max_instances {job.max_instances})"
            )
    return None


def run_job_now(job_id: int, *, clock: Clock | None = None, here: bool = False) -> str:
    """Ask akjobd to run a job now. With ``here`` and no akjobd alive, run it in a process of
    this command's own and wait for it; without ``here``, refuse when no akjobd is alive."""
    clock = clock or SystemClock()
    now = clock.now().replace(microsecond=0)
    job = Job.objects.filter(pk=job_id).first()
    if job is None:
        raise JobNotFound(f"no job with id {job_id}")
    reason = refusal(job)
    if reason:
        raise AkjobError(reason)
    live = store.live_daemons(now)
    if not live and not here:
        raise AkjobError(NO_DAEMON)
    Job.objects.filter(pk=job_id).update(_next_run=to_db(now))
    if live:
        return f"job {job_id} is due now; akjobd starts it within {akjob_settings.poll:g} s"
    return _run_here(job_id, now, clock)


def _run_here(job_id: int, now: object, clock: Clock) -> str:
    from akjob.daemon.loop import Daemon

    daemon = Daemon(clock=clock, max_workers=1)
    try:
        daemon.register(clock.now())
        daemon.run_once(clock.now(), only={job_id})
        while daemon.children:
            daemon.wait(0.2)
            daemon.reap(clock.now())
    except KeyboardInterrupt:
        pass  # the run is stopped and recorded interrupted below
    finally:
        daemon.request_stop()
        daemon.shutdown()
    run = JobRun.objects.filter(job_id=job_id, scheduled=to_db(now)).first()
    if run is None:
        return f"job {job_id} did not run"
    first = run.error.strip().splitlines()[-1:] if run.error else []
    return f"job {job_id} ran: {run.status}" + (f" ({first[0]})" if first else "")
