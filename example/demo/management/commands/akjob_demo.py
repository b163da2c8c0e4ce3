"""Create the demo's jobs (replacing earlier demo jobs)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.core.management.base import BaseCommand

from akjob.models import Job, JobCallable
from example.demo.jobs import Countdown


class Command(BaseCommand):
    help = "Create a few demo jobs that run every few seconds."

    def handle(self, *args, **options) -> None:
        Job.objects.filter(name__startswith="demo").delete()
        Job.objects.filter(name__startswith="countdown").delete()
        start = datetime.now(UTC).replace(microsecond=0)
        hello = Job(name="demo: hello every 5 s", run_every=timedelta(seconds=5))
        hello.job_code_object = JobCallable("example.demo.jobs.hello", "world")
        hello.save()
        countdown = Job(name="countdown", run_every=timedelta(seconds=3))
        countdown.job_code_object = Countdown(5)
        countdown.save()
        fail = Job(name="demo: fails every 20 s", run_every=timedelta(seconds=20))
        fail.job_code_object = JobCallable("example.demo.jobs.fail")
        fail.save()
        once = Job(name="demo: once, 8 s from now")
        once.dates_list = [start + timedelta(seconds=8)]
        once.job_code_object = JobCallable(print, "the one-off job ran", flush=True)
        once.save()
        for job in Job.objects.all():
            self.stdout.write(f"{job}  [{job.describe()}]")
        self.stdout.write("Starting akjobd in the foreground; Ctrl-C stops it.")
