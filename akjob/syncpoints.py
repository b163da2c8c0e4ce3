"""When the schedules declared in code are synced: after ``migrate`` (the ``post_migrate``
signal) and when akjobd starts. ``akjobd sync`` runs it by hand (see docs/schedules-in-code.md).
A failed sync at these points is reported and never stops the migration or the daemon."""

from __future__ import annotations

import logging
import sys
from typing import Any

from django.db import DatabaseError

from akjob.exceptions import AkjobError

log = logging.getLogger("akjob.sync")


def after_migrate(
    sender: Any, *, using: str = "default", verbosity: int = 1, **kwargs: Any
) -> None:
    """Receiver of ``post_migrate`` for akjob's app: sync once akjob's tables are complete."""
    from django.db import router

    from akjob import sync
    from akjob.models import Job

    if kwargs.get("plan") is None:
        return  # not sent by migrate (flush sends it too, on emptied tables)
    if not router.allow_migrate_model(using, Job):
        return  # akjob's tables live in another database
    if _unapplied(using):
        return  # migrated to an earlier state on purpose: the tables may lack the key
    try:
        report = sync.sync(using=using)
    except (AkjobError, DatabaseError) as exc:
        print(f"akjob: schedules in code were not synced: {exc}", file=sys.stderr)
        return
    except Exception as exc:  # noqa: BLE001 - a bad setting must not fail the migration
        print(f"akjob: schedules in code were not synced: {exc!r}", file=sys.stderr)
        return
    if verbosity >= 1 and (report.changes or report.invalid):
        stdout = kwargs.get("stdout") or sys.stdout
        for line in report.lines():
            stdout.write(f"  akjob: {line}\n")


def _unapplied(using: str) -> bool:
    from django.db import connections
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connections[using])
    nodes = [n for n in executor.loader.graph.leaf_nodes() if n[0] == "akjob"]
    return bool(executor.migration_plan(nodes))


def at_daemon_start() -> None:
    """Sync when akjobd starts (or loads its code afresh); a failure is logged, and akjobd goes
    on with the jobs as they are."""
    from akjob import sync

    try:
        report = sync.sync()
    except Exception:  # noqa: BLE001 - the daemon's own jobs must run all the same
        log.exception("schedules in code were not synced at akjobd's start")
        return
    if report.changes:
        log.info("schedules in code synced at akjobd's start: %s", report.lines()[-1])
