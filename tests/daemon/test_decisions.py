"""Jobs due together that share a schedule share one decision (akjobd's due wake-up): the
inputs a decision is shared on are every value the decision reads, and a shared decision is
the one each job would get alone."""

from __future__ import annotations

from datetime import time, timedelta

import pytest

from akjob import daysets, jobschedule
from akjob.daemon import dispatcher as claims
from akjob.jobschedule import schedule_inputs, to_schedule
from akjob.models import Job
from tests.daemon.steps import T0, make

pytestmark = pytest.mark.django_db
HOUR = timedelta(hours=1)


class Reading:
    """A job whose attribute reads are noted."""

    def __init__(self, job: Job) -> None:
        self.__dict__["job"], self.__dict__["read"] = job, set()

    def __getattr__(self, name: str):
        self.read.add(name)
        return getattr(self.job, name)


def reads(call, job: Job) -> set[str]:
    reading = Reading(job)
    call(reading)
    return reading.read


def every_field_set() -> Job:
    """A job using every source and every limit, so that every branch reads what it reads."""
    return make(
        run_every=HOUR,
        dates_list=[T0 + HOUR],
        monthly_days_list=[1, 15],
        monthly_time=time(3, 0),
        weekly_days_list=[2],
        weekly_time=time(4, 0),
        cron="*/5 * * * *",
        run_count_limit=10,
        active_time_begin=time(1, 0),
        active_time_end=time(23, 0),
        active_weekly_days_list=[2, 3, 4, 5, 6],
        active_monthly_days_list=list(range(1, 29)),
        active_months_list=list(range(1, 13)),
        active_date_begin=T0.date(),
        active_date_end=(T0 + 400 * 24 * HOUR).date(),
        misfire_grace=HOUR,
        month_positions="L, MON#1",
        exclude_dates_list=[(T0 + 48 * HOUR).date()],
        holidays="US",
        business_days_only=True,
        jitter=timedelta(minutes=5),
    )


def test_the_schedule_inputs_are_every_field_the_schedule_is_made_of():
    job = every_field_set()
    assert reads(schedule_inputs, job) == reads(lambda j: to_schedule(j, now=T0), job)


def test_the_decision_inputs_are_every_field_the_decision_reads():
    job = every_field_set()
    later = T0 + 2 * HOUR
    decided = reads(lambda j: claims.decide(j, now=later), job)
    assert decided <= reads(lambda j: claims.decision_inputs(j, later), job)


def test_jobs_sharing_their_inputs_share_a_decision_and_the_others_get_their_own(monkeypatch):
    same = {"run_every": HOUR}
    jobs = [
        make(**same, name="a"),
        make(**same, name="b", timeout=timedelta(seconds=5)),  # not an input: shared
        make(**same, misfire_grace=timedelta(seconds=1)),
        make(**same, name="anchored elsewhere"),
        make(**same, run_count_limit=1),
        make(**same, weekly_days_list=[1, 2, 3, 4, 5, 6, 7], weekly_time=time(10, 30)),
        make(
            **same, timezone="Europe/Berlin", active_time_begin=time(12), active_time_end=time(13)
        ),
        make(cron="0 * * * *"),
        make(cron="0 * * * *", timezone="America/New_York"),
    ]
    Job.objects.update(_next_run=T0 + HOUR)  # all due at the same occurrence
    Job.objects.filter(pk=jobs[3].pk).update(_last_interval=T0 - timedelta(minutes=30))
    loaded = list(Job.objects.order_by("pk"))
    daysets.load_saved(loaded)
    now = T0 + HOUR + timedelta(seconds=5)
    alone = [claims.decide(job, now=now) for job in loaded]
    calls = []
    real = claims.decide
    monkeypatch.setattr(
        claims,
        "decide",
        lambda job, *, now, sched=None: calls.append(job.pk) or real(job, now=now, sched=sched),
    )
    batch = claims.Shared()
    shared = [claims._decided(job, now, batch) for job in loaded]
    assert shared == alone
    assert len(calls) == len(loaded) - 1  # the first two share theirs
    assert len({d.next_run for d in alone}) > 3  # the inputs that differ do change decisions
    assert {d.action for d in alone} == {"run", "miss"}


def test_jobs_apart_only_in_their_interval_s_anchor_share_the_building_of_their_schedule(
    monkeypatch,
):
    """Jobs every hour, each from its own start: their schedules are built once, then each
    given its anchor, and each is decided as it would be alone."""
    jobs = [make(run_every=HOUR, name=f"job {i}") for i in range(5)]
    other = make(
        run_every=HOUR,
        timezone="Europe/Berlin",
        active_time_begin=time(12),
        active_time_end=time(13),
    )
    Job.objects.update(_next_run=T0 + HOUR)
    for i, job in enumerate([*jobs, other]):
        Job.objects.filter(pk=job.pk).update(_last_interval=T0 - timedelta(minutes=7 * i))
    loaded = list(Job.objects.order_by("pk"))
    daysets.load_saved(loaded)
    now = T0 + HOUR + timedelta(minutes=50)  # late enough for the anchors to matter
    alone = [claims.decide(job, now=now) for job in loaded]
    built = []
    real = jobschedule.build
    monkeypatch.setattr(
        jobschedule, "build", lambda job, *, now=None: built.append(job.pk) or real(job, now=now)
    )
    batch = claims.Shared()
    assert [claims._decided(job, now, batch) for job in loaded] == alone
    assert built == [jobs[0].pk, other.pk]
    assert len({d.next_run for d in alone}) == len(loaded)  # every anchor its own next run
    for job in loaded:
        inputs = schedule_inputs(job)
        assert inputs[jobschedule.ANCHOR_INPUT] == job._last_interval
        sched = jobschedule.build_sharing(job, now=now, inputs=inputs, built=batch.schedules)
        assert sched == to_schedule(job, now=now)
