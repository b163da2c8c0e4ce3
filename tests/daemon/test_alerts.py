"""Dead-man alerts with the clock moved by hand: overdue jobs with no daemon, with a dead daemon,
failing jobs, each announced once by signal and mail, and the recovery once."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core import mail
from django.core.management import call_command
from django.core.management.base import CommandError

from akjob import alerts
from akjob.daemon.loop import Daemon
from akjob.daemon.supervisor import InlineSupervisor
from akjob.models import Job, JobRun
from tests.daemon import jobcode
from tests.daemon.steps import T0, claimed_elsewhere, make

HOUR = timedelta(hours=1)

# Newer Django deprecates EMAIL_BACKEND (for MAILERS); it still works, and these tests set it.
pytestmark = [
    pytest.mark.django_db,
    pytest.mark.filterwarnings("ignore:The EMAIL_[A-Z_]* setting is deprecated"),
]


@pytest.fixture(autouse=True)
def recipients(settings):
    settings.AKJOB_ALERT_EMAILS = ["ops@example.com"]
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


@pytest.fixture
def heard():
    got: list[alerts.Alert] = []

    def receiver(sender, alert, **kwargs):
        got.append(alert)

    alerts.job_alert.connect(receiver)
    yield got
    alerts.job_alert.disconnect(receiver)


def nightly(**fields) -> Job:
    """A job due at T0 + 1 h, then every day, expected to succeed within 30 minutes."""
    fields.setdefault("alert_after", timedelta(minutes=30))
    job = make(name="nightly", dates_list=[T0 + HOUR], run_every=timedelta(days=1), **fields)
    Job.objects.filter(pk=job.pk).update(_next_run=T0 + HOUR)
    return job


def test_no_daemon_at_all_makes_the_job_overdue_after_alert_after(heard):
    job = nightly()
    assert alerts.check(T0 + HOUR + timedelta(minutes=29)) == []
    found = alerts.check(T0 + HOUR + timedelta(minutes=30))
    assert [o.job_id for o in found] == [job.pk]
    assert found[0].since == T0 + HOUR
    assert [(a.kind, a.state, a.job_id) for a in heard] == [("overdue", "raised", job.pk)]
    (message,) = mail.outbox
    assert message.to == ["ops@example.com"]
    assert message.subject == "[akjob] nightly is overdue"
    assert "has had no successful run for 30m00s" in message.body
    # Still overdue at every later look: announced once.
    for minutes in (31, 45, 120):
        assert len(alerts.check(T0 + HOUR + timedelta(minutes=minutes))) == 1
    assert len(heard) == 1 and len(mail.outbox) == 1


def test_recovery_is_announced_once_when_a_run_succeeds(heard, clock):
    job = nightly()
    alerts.check(T0 + 2 * HOUR)
    # A daemon comes back and runs the (coalesced) occurrence.
    clock.set(T0 + 2 * HOUR)
    daemon = Daemon(clock=clock, supervisor=InlineSupervisor(size=2), max_workers=2)
    daemon.run_once(clock.now())
    assert JobRun.objects.get(job=job).status == JobRun.Status.SUCCEEDED
    for minutes in (1, 2, 3):
        alerts.check(T0 + 2 * HOUR + timedelta(minutes=minutes))
    assert [(a.kind, a.state) for a in heard] == [("overdue", "raised"), ("overdue", "recovered")]
    assert [m.subject for m in mail.outbox] == [
        "[akjob] nightly is overdue",
        "[akjob] nightly recovered (overdue)",
    ]
    assert Job.objects.get(pk=job.pk)._overdue_since is None


def test_a_dead_daemon_holding_the_run_makes_the_job_overdue(heard, clock):
    job = nightly()
    claimed_elsewhere(job, T0 + HOUR)  # a daemon that heartbeat last at T0 and died
    assert Job.objects.get(pk=job.pk)._next_run > T0 + 2 * HOUR  # nothing pending: only the run
    assert alerts.check(T0 + HOUR + timedelta(minutes=10)) == []
    (found,) = alerts.check(T0 + HOUR + timedelta(minutes=31))
    assert found.since == T0 + HOUR
    assert [(a.kind, a.state) for a in heard] == [("overdue", "raised")]


def test_a_disabled_job_or_one_without_alert_after_is_never_overdue(heard):
    nightly(alert_after=None)
    quiet = nightly()
    Job.objects.filter(pk=quiet.pk).update(job_enabled=False)
    assert alerts.check(T0 + 10 * HOUR) == [] and heard == [] and mail.outbox == []


def test_a_failing_job_is_announced_once_and_its_recovery_once(heard, clock):
    code = jobcode.Boom()
    job = make(code, name="flaky", run_every=timedelta(seconds=10))
    daemon = Daemon(clock=clock, supervisor=InlineSupervisor(size=2), max_workers=2)
    for step in (1, 2, 3):  # three failures in a row
        clock.set(T0 + timedelta(seconds=10 * step))
        daemon.run_once(clock.now())
        alerts.check(clock.now())
    assert [r.status for r in JobRun.objects.filter(job=job)] == ["failed"] * 3
    assert [(a.kind, a.state) for a in heard] == [("failing", "raised")]
    assert "boom from the job" in mail.outbox[0].body
    assert mail.outbox[0].subject == "[akjob] flaky is failing"
    job = Job.objects.get(pk=job.pk)
    job.job_code_object = jobcode.Counter()
    job.save(now=clock.now())
    for step in (4, 5):
        clock.set(T0 + timedelta(seconds=10 * step))
        daemon.run_once(clock.now())
        alerts.check(clock.now())
    assert [(a.kind, a.state) for a in heard] == [("failing", "raised"), ("failing", "recovered")]
    assert len(mail.outbox) == 2


def test_a_failed_occurrence_makes_a_job_with_alert_after_overdue_too(heard, clock):
    job = make(jobcode.Boom(), name="report", run_every=timedelta(hours=1), alert_after=HOUR / 2)
    daemon = Daemon(clock=clock, supervisor=InlineSupervisor(size=2), max_workers=2)
    clock.set(T0 + HOUR)
    daemon.run_once(clock.now())
    clock.set(T0 + HOUR + timedelta(minutes=30))
    (found,) = alerts.check(clock.now())
    assert found.job_id == job.pk and found.since == T0 + HOUR
    assert {(a.kind, a.state) for a in heard} == {("failing", "raised"), ("overdue", "raised")}


@pytest.mark.parametrize("admins", [[("Ops", "admin@example.com")], ["admin@example.com"]])
def test_admins_receive_the_mail_when_no_alert_emails_are_set(settings, admins):
    settings.AKJOB_ALERT_EMAILS = None
    settings.ADMINS = admins  # Django 5.2's (name, address) pairs, or Django 6's addresses
    nightly()
    alerts.check(T0 + 2 * HOUR)
    assert [m.to for m in mail.outbox] == [["admin@example.com"]]


def test_no_recipients_means_no_mail_but_the_signal(settings, heard):
    settings.AKJOB_ALERT_EMAILS = None
    settings.ADMINS = []
    nightly()
    alerts.check(T0 + 2 * HOUR)
    assert mail.outbox == [] and len(heard) == 1


def test_a_failing_receiver_or_mail_server_never_stops_the_check(settings, heard):
    def broken(sender, alert, **kwargs):
        raise RuntimeError("receiver broke")

    alerts.job_alert.connect(broken)
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", 9  # nothing listens there
    try:
        nightly()
        assert len(alerts.check(T0 + 2 * HOUR)) == 1
        assert len(alerts.check(T0 + 3 * HOUR)) == 1
    finally:
        alerts.job_alert.disconnect(broken)
    assert len(heard) == 1  # still once


def test_akjobd_check_prints_one_line_per_overdue_job_and_exits_1(time_machine):
    first, second = nightly(), nightly()
    make(name="fine", run_every=timedelta(days=1), alert_after=HOUR)
    time_machine.move_to(T0 + 3 * HOUR, tick=False)
    out = io.StringIO()
    with pytest.raises(CommandError) as info:
        call_command("akjobd", "check", stdout=out)
    assert info.value.returncode == 1
    lines = out.getvalue().splitlines()
    assert [line.split(" (")[0] for line in lines] == [f"job {first.pk}", f"job {second.pk}"]
    assert all("overdue" in line for line in lines)
    assert len(mail.outbox) == 2


def test_akjobd_check_exits_0_when_nothing_is_overdue(time_machine):
    nightly()
    time_machine.move_to(T0, tick=False)
    out = io.StringIO()
    call_command("akjobd", "check", stdout=out)
    assert out.getvalue().strip() == "check: no job overdue"


def test_alert_after_must_be_positive():
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as info:
        nightly(alert_after=timedelta(0))
    assert "alert_after must be longer than zero" in str(info.value)


@pytest.mark.parametrize(
    ("name", "value", "rule"),
    [
        ("AKJOB_ALERT_EMAILS", "ops@example.com", "None or a list of e-mail addresses"),
        ("AKJOB_METRICS_ADDR", "localhost", '"host:port"'),
        ("AKJOB_METRICS_JOB_LABELS", -1, "True, False or an int >= 0"),
        ("AKJOB_LOG_FORMAT", "xml", '"text" or "json"'),
        ("AKJOB_ALERT_CHECK", 0, "a positive timedelta"),
    ],
)
def test_bad_settings_are_named_with_their_rule(settings, name, value, rule):
    from akjob.checks import check_settings

    setattr(settings, name, value)
    (error,) = [e for e in check_settings() if e.obj == name]
    assert error.id == "akjob.E001" and rule in error.msg and name in error.msg
