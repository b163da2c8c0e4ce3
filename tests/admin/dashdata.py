"""A day of runs for the dashboard tests: two daemons (one alive, one dead), a stopped one,
runs of every status over the last hours, an overdue job, a failing job, a stuck run."""

from __future__ import annotations

from datetime import datetime, timedelta

from akjob.models import DaemonRecord, Job, JobCallable, JobRun

S = JobRun.Status


def job(name: str, **fields) -> Job:
    made = Job(name=name, **fields)
    made.job_code_object = JobCallable(print)
    made.save()
    return made


def fill(now: datetime, *, alive: bool = True) -> dict[str, Job]:
    hour = timedelta(hours=1)
    web1 = DaemonRecord.objects.create(
        host="web1", pid=101, started=now - 30 * hour, heartbeat=now - timedelta(seconds=2)
    )
    if not alive:
        DaemonRecord.objects.filter(pk=web1.pk).update(heartbeat=now - timedelta(minutes=10))
    DaemonRecord.objects.create(
        host="web2", pid=202, started=now - 20 * hour, heartbeat=now - 3 * hour
    )
    DaemonRecord.objects.create(
        host="web3",
        pid=303,
        started=now - 10 * hour,
        heartbeat=now - 5 * hour,
        stopped=now - 5 * hour,
    )
    report = job("report", run_every=hour)
    nightly = job("nightly <b>backup</b>", alert_after=timedelta(minutes=30))
    Job.objects.filter(pk=nightly.pk).update(_next_run=now - 2 * hour)
    flaky = job("flaky")
    Job.objects.filter(pk=flaky.pk).update(_failing_since=now - 4 * hour)
    stuck = job("stuck")
    base = now.replace(minute=0, second=0, microsecond=0)
    for h in range(1, 23):
        at = base - h * hour
        late = timedelta(seconds=0.2 + (h % 5) * 0.3)
        status = S.FAILED if h % 7 == 0 else S.SUCCEEDED
        JobRun.objects.create(
            job=report,
            job_name="report",
            scheduled=at,
            started=at + late,
            finished=at + late + timedelta(seconds=3),
            status=status,
        )
        if h % 4 == 0:
            JobRun.objects.create(
                job=flaky,
                job_name="flaky",
                scheduled=at + timedelta(minutes=5),
                finished=at + timedelta(minutes=50),
                status=S.MISSED,
            )
        for k in range(h % 3):
            t = at + timedelta(minutes=10 + k)
            JobRun.objects.create(
                job=flaky,
                job_name="flaky",
                scheduled=t,
                started=t + 8 * late,
                finished=t + 9 * late,
                status=S.SUCCEEDED,
            )
    JobRun.objects.create(
        job=stuck,
        job_name="stuck",
        scheduled=now - timedelta(minutes=20),
        started=now - timedelta(minutes=20),
        status=S.RUNNING,
        running_for=stuck.pk,
        lease_until=now - timedelta(minutes=9),
        daemon_id=web1.pk,
        host="web2",
    )
    return {"report": report, "nightly": nightly, "flaky": flaky, "stuck": stuck}
