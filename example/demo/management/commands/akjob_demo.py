"""Create the demo's jobs (replacing earlier demo jobs)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from django.core.management.base import BaseCommand

from akjob.conf import akjob_settings
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
        self.stdout.write(what_to_look_at(fail.pk))


def what_to_look_at(failing_job: int) -> str:
    """Where to look while the demo runs: commands for a second terminal, the log files."""
    python = Path(sys.executable)
    if python.is_relative_to(Path.cwd()):
        python = python.relative_to(Path.cwd())
    manage = f"{python} manage.py"
    logs = akjob_settings.log_dir
    if logs.is_relative_to(Path.cwd()):
        logs = logs.relative_to(Path.cwd())
    commands = [
        ("joblist", "every job: next run, last result, running"),
        (f"history {failing_job}", "the runs of the job that fails"),
        (f"showinfo {failing_job}", "that job in full, with its last runs"),
        ("help", "every action"),
    ]
    width = max(len(action) for action, _ in commands)
    return "\n".join(
        [
            "",
            "Starting akjobd in the foreground: the jobs' output and akjobd's log lines follow.",
            "Ctrl-C stops it. Meanwhile, in another terminal in this directory:",
            *(f"  {manage} akjobd {a.ljust(width)}  {what}" for a, what in commands),
            f"Log files, in {logs}/: akjobd.log (the daemon), akjob.job.log (the jobs' log lines).",
            "The admin: createsuperuser, then AKJOB_START_DAEMON=False runserver and open",
            "http://127.0.0.1:8000/admin/akjob/ (see docs/admin.md).",
            "",
        ]
    )
