"""Keeping the jobs declared in code in step with the code (see docs/schedules-in-code.md).

:func:`sync` plans the difference between the declarations and the jobs that carry a
``code_key``, then (unless it is a dry run) makes it:

- a declaration without a job: a job is created; its first run is the schedule's first
  occurrence strictly after now (never "now" because the row is new);
- a job whose declaration changed: the changed fields are written (its runs, run count and
  history stay) and its next run is computed again, strictly after now;
- a job whose declaration is gone (as far as can be told: while some invalid declaration has
  no key, no job is taken for gone): disabled (``AKJOB_SYNC_REMOVED = "disable"``, the default,
  and ``code_removed`` set) or deleted (``"delete"``). A declaration that comes back enables it
  again, as the code says.

Whether a job is enabled is the operator's (the admin, ``akjobd disablejob``): a sync writes
``job_enabled`` only when the code's own ``enabled=`` changed since the last sync, or when the
job is removed from the code or comes back. An invalid declaration leaves its job as it is.

Syncs of several processes at once are serialised by a lock held for the whole sync (an
advisory lock on PostgreSQL, a named lock on MariaDB/MySQL, a file lock next to an SQLite
file); the unique ``code_key`` is the last guard against a job created twice.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import router, transaction

from akjob import declare
from akjob.conf import akjob_settings
from akjob.declare import Declaration, Invalid
from akjob.exceptions import JobCodeError
from akjob.synclock import sync_lock
from akjob.timeutil import to_db, truncate, utcnow

__all__ = ["Change", "Report", "removed_policy", "sync"]

log = logging.getLogger("akjob.sync")
LIST_PROPS = {name: f"{name}_list" for name in declare.LISTS}


@dataclass
class Change:
    """One change a sync makes (or, in a dry run, would make) to the job of ``key``."""

    key: str
    action: str  # create, update, disable, delete
    job_id: int | None = None
    fields: dict[str, tuple[Any, Any]] = field(default_factory=dict)  # name -> (old, new)

    def line(self) -> str:
        where = f" (job {self.job_id})" if self.job_id is not None else ""
        head = f"{self.action} {self.key}{where}"
        if not self.fields:
            return head
        parts = [
            f"{name}: {_show(old)} -> {_show(new)}" for name, (old, new) in self.fields.items()
        ]
        return f"{head}: " + "; ".join(parts)


def _show(value: Any) -> str:
    if isinstance(value, timedelta):
        return str(value)
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    if isinstance(value, datetime):
        return value.isoformat()
    return repr(value)


@dataclass
class Report:
    """What a sync did (or would do): the changes, the unchanged keys, the invalid declarations."""

    changes: list[Change]
    unchanged: list[str]
    invalid: list[Invalid]
    dry_run: bool = False

    def lines(self) -> list[str]:
        """The report, one line each: the changes, then the invalid declarations, then a sum."""
        lines = [change.line() for change in self.changes]
        lines += [f"invalid {i.key or i.origin} (left as it is): {i.message}" for i in self.invalid]
        verb = "would change" if self.dry_run else "changed"
        lines.append(
            f"schedules in code: {len(self.changes)} {verb}, {len(self.unchanged)} unchanged, "
            f"{len(self.invalid)} invalid"
        )
        return lines


def removed_policy() -> str:
    """``AKJOB_SYNC_REMOVED``: "disable" (the default) or "delete"."""
    return akjob_settings.sync_removed


def sync(
    *,
    now: datetime | None = None,
    dry_run: bool = False,
    using: str | None = None,
    discover: bool = True,
) -> Report:
    """Bring the code-managed jobs in step with the declarations; see the module's docstring.
    ``now`` is the time new and changed jobs are scheduled from (default: the clock)."""
    from akjob.models import Job

    policy = removed_policy()
    declarations, invalid = declare.collect(discover_modules=discover)
    using = using or router.db_for_write(Job)
    now = truncate(now or utcnow())
    with sync_lock(using), transaction.atomic(using=using):
        jobs = {
            job.code_key: job for job in Job.objects.using(using).filter(code_key__isnull=False)
        }
        changes, unchanged = plan(declarations, invalid, jobs, policy)
        if not dry_run:
            for change in changes:
                apply(change, declarations, jobs, now=now, using=using)
    report = Report(changes, unchanged, invalid, dry_run=dry_run)
    for change in [] if dry_run else changes:
        log.info("schedules in code: %s", change.line())
    for bad in invalid:
        log.warning("schedules in code: %s is invalid: %s", bad.origin, bad.message)
    return report


# -- planning -----------------------------------------------------------------------------------


def plan(
    declarations: list[Declaration], invalid: list[Invalid], jobs: dict[str, Any], policy: str
) -> tuple[list[Change], list[str]]:
    """The changes that bring ``jobs`` (by key) in step with ``declarations``."""
    changes: list[Change] = []
    unchanged: list[str] = []
    for declaration in declarations:
        job = jobs.get(declaration.key)
        if job is None:
            changes.append(Change(declaration.key, "create", fields=_new_fields(declaration)))
            continue
        differences = differ(declaration, job)
        if differences:
            changes.append(Change(declaration.key, "update", job.pk, differences))
        else:
            unchanged.append(declaration.key)
    kept = {d.key for d in declarations} | {i.key for i in invalid if i.key is not None}
    if any(i.key is None for i in invalid):
        return changes, [*unchanged, *(k for k in sorted(jobs) if k not in kept)]
    for key, job in sorted(jobs.items()):
        if key in kept:
            continue
        if policy == "delete":
            changes.append(Change(key, "delete", job.pk))
        elif job.code_removed is None:
            enabled = {"job_enabled": (True, False)} if job.job_enabled else {}
            changes.append(Change(key, "disable", job.pk, enabled))
        else:
            unchanged.append(key)
    return changes, unchanged


def _new_fields(declaration: Declaration) -> dict[str, tuple[Any, Any]]:
    shown = {k: v for k, v in declaration.fields.items() if v != declare.SCALARS[k]}
    shown |= {k: v for k, v in declaration.lists.items() if v}
    if declaration.dates:
        shown["dates"] = declaration.dates
    shown["code"] = repr(declaration.code())
    return {name: (None, value) for name, value in shown.items()}


def differ(declaration: Declaration, job: Any) -> dict[str, tuple[Any, Any]]:
    """The fields of ``job`` that differ from what ``declaration`` says: ``name -> (job's,
    declaration's)``."""
    found: dict[str, tuple[Any, Any]] = {}
    for name, value in declaration.fields.items():
        if getattr(job, name) != value:
            found[name] = (getattr(job, name), value)
    for name, prop in LIST_PROPS.items():
        current = tuple(getattr(job, prop))
        if current != declaration.lists[name]:
            found[name] = (current, declaration.lists[name])
    dates = tuple(job.dates_list)
    if dates != declaration.dates:
        found["dates"] = (dates, declaration.dates)
    code = _code_identity(job)
    if code != declaration.code_identity():
        found["code"] = (_code_repr(job), repr(declaration.code()))
    enabled = _enabled_to_write(declaration, job)
    if enabled is not None and enabled != job.job_enabled:
        found["job_enabled"] = (job.job_enabled, enabled)
    if job.code_removed is not None:
        found["code_removed"] = (job.code_removed, None)
    elif job.code_declaration != declaration.recorded() and not found:
        found["code_declaration"] = (job.code_declaration, declaration.recorded())
    return found


def _enabled_to_write(declaration: Declaration, job: Any) -> bool | None:
    """``job_enabled`` as the code now says it, when the sync is to write it: the job comes
    back to the code, or the code's ``enabled=`` changed since the last sync. None otherwise:
    an operator's enable or disable stands."""
    if job.code_removed is not None:
        return declaration.enabled
    try:
        last = json.loads(job.code_declaration or "{}").get("enabled")
    except ValueError:
        last = None
    return declaration.enabled if last != declaration.enabled else None


def _code_identity(job: Any) -> tuple[Any, ...] | None:
    from akjob.codeobjects import JobCallable
    from akjob.tasks import TaskCall

    try:
        code = job.job_code_object
    except JobCodeError:  # a blob that does not verify: written again
        return None
    if isinstance(code, TaskCall) and not code.options:
        return ("task", code.task_path, list(code.args), code.kwargs)
    if isinstance(code, JobCallable) and isinstance(code.callable, str):
        return ("call", code.callable, list(code.args), code.kwargs)
    return None


def _code_repr(job: Any) -> str:
    try:
        return repr(job.job_code_object)
    except JobCodeError as exc:
        return f"<unreadable: {exc}>"


# -- applying -----------------------------------------------------------------------------------


def apply(
    change: Change,
    declarations: list[Declaration],
    jobs: dict[str, Any],
    *,
    now: datetime,
    using: str,
) -> None:
    """Make one planned change."""
    after = now + timedelta(seconds=1)  # first runs strictly after now
    if change.action == "delete":
        jobs[change.key].delete(using=using)
        return
    if change.action == "disable":
        job = jobs[change.key]
        job.job_enabled = False
        job.code_removed = now
        job.save(using=using, now=after)
        return
    declaration = next(d for d in declarations if d.key == change.key)
    if change.action == "create":
        job = declare.unsaved_job(declaration)
        job.code_declaration = declaration.recorded()
        if job.run_every is not None:
            job._last_interval = to_db(now)  # the grid starts at the sync: first run now + every
        job.job_code_object = declaration.code()
        job.save(using=using, now=after)
        change.job_id = job.pk
        return
    job = jobs[change.key]
    for name, value in declaration.fields.items():
        setattr(job, name, value)
    for name, prop in LIST_PROPS.items():
        if name in change.fields:
            setattr(job, prop, list(declaration.lists[name]))
    if "dates" in change.fields:
        job.dates_list = list(declaration.dates)
    if "code" in change.fields:
        job.job_code_object = declaration.code()
    if "job_enabled" in change.fields:
        job.job_enabled = declaration.enabled
    job.code_removed = None
    job.code_declaration = declaration.recorded()
    job.save(using=using, now=after)  # reschedules when the schedule changed
