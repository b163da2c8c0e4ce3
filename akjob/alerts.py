"""Dead-man alerts: overdue jobs and failing jobs, each announced once, and their recovery once.

A job with ``alert_after`` set is *overdue* when one of its occurrences has had no successful run
within ``alert_after`` of its scheduled time: the occurrence was never started (no akjobd alive,
or the one that claimed it died), its run failed, was missed or skipped, or it is still running.
A job whose latest finished run failed or timed out is *failing*, whether it has ``alert_after``
or not. A later successful run recovers both.

Each change is written with a compare-and-set update of the job's row (``_overdue_since``,
``_failing_since``), and only the process whose update took announces it: several akjobd and a
cron ``akjobd check`` may look at the same moment, and the announcement still goes out once.
An announcement is the :data:`job_alert` signal, then a mail to ``AKJOB_ALERT_EMAILS`` (or, when
that is not set, Django's ``ADMINS``). See docs/monitoring.md.

Nothing here reads the clock: every function takes ``now``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db.models import DateTimeField, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce
from django.dispatch import Signal

from akjob.timeutil import to_aware, to_db

logger = logging.getLogger("akjob.alerts")

job_alert = Signal()
"""Sent with ``sender=Job`` and ``alert=<Alert>`` when a job becomes overdue or failing, and
when it recovers."""

OVERDUE = "overdue"
FAILING = "failing"
RAISED = "raised"
RECOVERED = "recovered"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Alert:
    """One announcement: ``kind`` (overdue or failing), ``state`` (raised or recovered), the
    job, the occurrence it concerns (``since``) and a sentence saying what happened."""

    kind: str
    state: str
    job_id: int
    job_name: str
    since: datetime
    detail: str

    @property
    def subject(self) -> str:
        name = self.job_name or f"job {self.job_id}"
        if self.state == RAISED:
            return f"[akjob] {name} is {self.kind}"
        return f"[akjob] {name} recovered ({self.kind})"

    def line(self) -> str:
        """One line for logs and ``akjobd check``."""
        return f"job {self.job_id} ({self.job_name or 'unnamed'}) {self.kind}: {self.detail}"


@dataclass(frozen=True)
class Overdue:
    """A job found overdue: since which occurrence, and by how long past ``alert_after``."""

    job_id: int
    job_name: str
    since: datetime
    alert_after: timedelta
    late: timedelta

    @property
    def detail(self) -> str:
        return (
            f"the occurrence of {self.since:%Y-%m-%d %H:%M:%S} UTC has had no successful run "
            f"for {_span(self.late)} (alert_after {_span(self.alert_after)})"
        )

    def line(self) -> str:
        """One line for ``akjobd check``."""
        return f"job {self.job_id} ({self.job_name or 'unnamed'}) overdue: {self.detail}"


FAILED_STATES = ("failed", "timed out")


def _span(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m{seconds:02d}s" if hours else f"{minutes}m{seconds:02d}s"


# -- finding -----------------------------------------------------------------------------------


def overdue_jobs(now: datetime) -> list[Overdue]:
    """Every enabled job with ``alert_after`` that is overdue at ``now``."""
    found = []
    for row in _watched().filter(job_enabled=True):
        since = _oldest_unsucceeded(row, now)
        if since is not None and now - since >= row["alert_after"]:
            found.append(Overdue(row["pk"], row["name"], since, row["alert_after"], now - since))
    return found


def _watched() -> Any:
    """Jobs with ``alert_after``, each with its last success and its first occurrence since that
    has no success (``first_bad``), as dicts."""
    from akjob.models import Job, JobRun

    runs = JobRun.objects.filter(job=OuterRef("pk"))
    last_ok = runs.filter(status=JobRun.Status.SUCCEEDED).order_by("-scheduled")
    after_ok = JobRun.objects.filter(
        job=OuterRef("pk"),
        scheduled__gt=Coalesce(
            OuterRef("last_ok"), Value(to_db(EPOCH), output_field=DateTimeField())
        ),
    ).exclude(status=JobRun.Status.SUCCEEDED)
    return (
        Job.objects.filter(alert_after__isnull=False)
        .annotate(last_ok=Subquery(last_ok.values("scheduled")[:1]))
        .annotate(first_bad=Subquery(after_ok.order_by("scheduled").values("scheduled")[:1]))
        .values("pk", "name", "alert_after", "_next_run", "_overdue_since", "first_bad")
    )


def _oldest_unsucceeded(row: dict[str, Any], now: datetime) -> datetime | None:
    """The oldest occurrence that has come and has had no success: a recorded one (failed,
    missed, skipped, interrupted, running) or the pending one that no daemon started."""
    times = [to_aware(row["first_bad"])]
    pending = to_aware(row["_next_run"])
    if pending is not None and pending <= now:
        times.append(pending)
    present = [t for t in times if t is not None]
    return min(present) if present else None


# -- announcing --------------------------------------------------------------------------------


def check(now: datetime, *, failures_since: timedelta = timedelta(days=1)) -> list[Overdue]:
    """Look at every watched job at ``now``: announce the jobs that became overdue and those
    that recovered, and the failures of the last ``failures_since`` that were not announced yet
    (say, their daemon died between recording the run and announcing it). Returns the jobs
    overdue now."""
    from akjob.models import Job, JobRun

    overdue = overdue_jobs(now)
    by_id = {o.job_id: o for o in overdue}
    for item in overdue:
        _raise(Job, "_overdue_since", item.job_id, item.since, OVERDUE, item.detail, item)
    flagged = Job.objects.filter(_overdue_since__isnull=False).values_list(
        "pk", "name", "_overdue_since"
    )
    for pk, name, since in list(flagged):
        if pk not in by_id:
            detail = "every occurrence that came has had a successful run, or no run is expected"
            _clear(Job, "_overdue_since", pk, name, to_aware(since), OVERDUE, detail)
    recent = JobRun.objects.filter(
        finished__gte=to_db(now - failures_since), status__in=FAILED_STATES
    ).values_list("job_id", flat=True)
    jobs = set(recent) | set(
        Job.objects.filter(_failing_since__isnull=False).values_list("pk", flat=True)
    )
    runs_ended(jobs - {None})
    return overdue


def runs_ended(job_ids: Iterable[int]) -> None:
    """After runs of these jobs were recorded: a job whose latest finished run failed or timed
    out, with no retry of it still to come, becomes failing; one whose latest finished run
    succeeded recovers."""
    from akjob.models import Job, JobRun

    ids = sorted(set(job_ids))
    if not ids:
        return
    latest = (
        JobRun.objects.filter(job=OuterRef("pk"), finished__isnull=False)
        .exclude(status__in=(JobRun.Status.MISSED, JobRun.Status.SKIPPED))
        .order_by("-scheduled", "-id")
    )
    rows = (
        Job.objects.filter(pk__in=ids)
        .annotate(last_status=Subquery(latest.values("status")[:1]))
        .annotate(last_scheduled=Subquery(latest.values("scheduled")[:1]))
        .annotate(last_error=Subquery(latest.values("error")[:1]))
        .annotate(retry_at=Subquery(latest.values("retry_at")[:1]))
        .values_list(
            "pk",
            "name",
            "_failing_since",
            "last_status",
            "last_scheduled",
            "last_error",
            "retry_at",
        )
    )
    for pk, name, failing, status, scheduled, error, retry_at in rows:
        if status in FAILED_STATES and failing is None and retry_at is None:
            last = (error or "").strip().splitlines()[-1:] or [""]
            detail = f"its run of {to_aware(scheduled):%Y-%m-%d %H:%M:%S} UTC {status}"
            detail += f": {last[0]}" if last[0] else ""
            _raise(Job, "_failing_since", pk, to_aware(scheduled), FAILING, detail, name=name)
        elif status == JobRun.Status.SUCCEEDED and failing is not None:
            detail = f"its run of {to_aware(scheduled):%Y-%m-%d %H:%M:%S} UTC succeeded"
            _clear(Job, "_failing_since", pk, name, to_aware(failing), FAILING, detail)


def _raise(
    job_model: Any,
    field: str,
    pk: int,
    since: datetime,
    kind: str,
    detail: str,
    item: Overdue | None = None,
    *,
    name: str = "",
) -> bool:
    taken = job_model.objects.filter(pk=pk, **{f"{field}__isnull": True}).update(
        **{field: to_db(since)}
    )
    if not taken:
        return False  # announced before, by this process or another
    if item is not None:
        name, detail = item.job_name, item.detail
    announce(Alert(kind, RAISED, pk, name, since, detail))
    return True


def _clear(
    job_model: Any, field: str, pk: int, name: str, since: datetime, kind: str, detail: str
) -> bool:
    taken = job_model.objects.filter(pk=pk, **{field: to_db(since)}).update(**{field: None})
    if not taken:
        return False
    announce(Alert(kind, RECOVERED, pk, name, since, detail))
    return True


def announce(alert: Alert) -> None:
    """Log the alert, send :data:`job_alert`, and mail it. A receiver or a mail server that
    fails is logged; the alert stays announced (it is never sent twice)."""
    from akjob.models import Job

    level = logging.WARNING if alert.state == RAISED else logging.INFO
    logger.log(level, "%s", alert.subject + ": " + alert.detail, extra={"akjob_job": alert.job_id})
    for receiver, result in job_alert.send_robust(sender=Job, alert=alert):
        if isinstance(result, Exception):
            logger.error("a receiver of job_alert failed: %r (%s)", receiver, result)
    recipients = alert_recipients()
    if not recipients:
        return
    try:
        send_mail(
            alert.subject,
            _body(alert),
            getattr(settings, "SERVER_EMAIL", None),
            recipients,
            fail_silently=False,
        )
    except Exception as exc:  # noqa: BLE001 - a mail server down must not stop the daemon
        logger.error("the alert mail could not be sent: %s", exc)


def alert_recipients() -> list[str]:
    """``AKJOB_ALERT_EMAILS``, else the addresses of Django's ``ADMINS``."""
    explicit = getattr(settings, "AKJOB_ALERT_EMAILS", None)
    if explicit:
        return [explicit] if isinstance(explicit, str) else list(explicit)
    admins = getattr(settings, "ADMINS", None) or []
    return [a[1] if isinstance(a, list | tuple) else a for a in admins]


def _body(alert: Alert) -> str:
    what = "is " + alert.kind if alert.state == RAISED else "recovered"
    lines = [
        f"Job {alert.job_id} ({alert.job_name or 'unnamed'}) {what}.",
        "",
        alert.detail[:1].upper() + alert.detail[1:] + ".",
        "",
        f"Occurrence: {alert.since:%Y-%m-%d %H:%M:%S} UTC",
    ]
    return "\n".join(lines) + "\n"
