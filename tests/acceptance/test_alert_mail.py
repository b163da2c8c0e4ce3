"""Alerts end to end: a real SMTP server process, ``akjobd check`` without a daemon, then a real
akjobd that announces a failing job, a job overdue while its run hangs, and each recovery,
every mail once."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.acceptance.project import Project, wait_for
from tests.acceptance.sites import SETUP
from tests.acceptance.smtp import smtp_server

pytestmark = pytest.mark.acceptance


def settings(port: int) -> str:
    return f"""
EMAIL_HOST = "127.0.0.1"
EMAIL_PORT = {port}
EMAIL_TIMEOUT = 10
SERVER_EMAIL = "akjob@example.com"
AKJOB_ALERT_EMAILS = ["ops@example.com"]
AKJOB_ALERT_CHECK = 0.5
"""


def heartbeat(project: Project) -> str | None:
    rows = project.sql("SELECT max(heartbeat) FROM akjob_daemonrecord WHERE stopped IS NULL")
    return rows[0][0] if rows else None


def test_alert_mails_reach_a_real_smtp_server_once_each(tmp_path: Path):
    with smtp_server(tmp_path) as smtp:
        project = Project(tmp_path / "site", extra=settings(smtp.port), grace=3)
        project.manage("migrate", "--noinput", timeout=180)
        gate = tmp_path / "gate"
        out = project.shell(
            SETUP
            + f"""
past = datetime.now(UTC) - timedelta(minutes=10)
make("waiting", jobs.Mark({str(tmp_path / "mark")!r}), dates_list=[past],
     alert_after=timedelta(minutes=1))
Job.objects.filter(name="waiting").update(_next_run=past)
"""
        )
        waiting = int(out.split()[1])
        # No akjobd at all: the check notices, says so, and mails once.
        check = project.manage("akjobd", "check", check=False)
        assert check.returncode == 1, check.stdout + check.stderr
        (line,) = check.stdout.splitlines()
        assert line.startswith(f"job {waiting} (waiting) overdue: the occurrence of ")
        assert project.manage("akjobd", "check", check=False).returncode == 1
        wait_for(lambda: smtp.subjects(), timeout=10, what="the overdue mail")
        assert smtp.subjects() == ["[akjob] waiting is overdue"]
        message = smtp.messages()[0]
        assert message["To"] == "ops@example.com" and message["From"] == "akjob@example.com"

        # Now akjobd runs: the waiting job recovers, a failing job and a hanging one appear.
        project.shell(
            SETUP
            + f"""
make("broken", jobs.Raise(), dates_list=[datetime.now(UTC) + timedelta(seconds=1)])
make("slow", jobs.Gate({str(tmp_path / "slow")!r}, {str(gate)!r}),
     dates_list=[datetime.now(UTC) + timedelta(seconds=1)], alert_after=timedelta(seconds=2))
"""
        )
        started = project.manage(*project.akjobd_args("start"))
        assert "started" in started.stdout, started.stdout + started.stderr
        try:
            expected = {
                "[akjob] waiting recovered (overdue)",
                "[akjob] broken is failing",
                "[akjob] slow is overdue",
            }
            wait_for(
                lambda: expected <= set(smtp.subjects()), timeout=60, what="the daemon's mails"
            )
            gate.touch()
            wait_for(
                lambda: "[akjob] slow recovered (overdue)" in smtp.subjects(),
                timeout=60,
                what="the recovery mail",
            )
            # Several more alert checks later (heartbeats are 1 s, checks 0.5 s), nothing twice.
            for _ in range(3):
                beat = heartbeat(project)
                wait_for(lambda b=beat: heartbeat(project) > b, timeout=30, what="a heartbeat")
            assert project.manage("akjobd", "check", check=False).returncode == 0
        finally:
            stop = project.akjobd("stop")
            assert stop.returncode == 0, stop.stdout + stop.stderr
        subjects = smtp.subjects()
        assert sorted(subjects) == sorted(
            [
                "[akjob] waiting is overdue",
                "[akjob] waiting recovered (overdue)",
                "[akjob] broken is failing",
                "[akjob] slow is overdue",
                "[akjob] slow recovered (overdue)",
            ]
        ), subjects
        failing = next(m for m in smtp.messages() if m["Subject"] == "[akjob] broken is failing")
        assert "acceptance failure" in failing.get_payload()
