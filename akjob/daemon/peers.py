"""The other daemons, as one daemon sees them through the database: whose heartbeat is recent,
whose runs' leases ran out, which daemons on this host died, which claimed runs are still ours."""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from akjob.conf import akjob_settings
from akjob.daemon.claim import HOST
from akjob.models import DaemonRecord, JobRun
from akjob.timeutil import to_db

Status = JobRun.Status


def renew_leases(daemon: DaemonRecord, run_ids: list[int], until: datetime) -> int:
    """Extend the leases of these runs that ``daemon`` still owns; return how many it does."""
    runs = JobRun.objects.filter(pk__in=run_ids, daemon=daemon, status=Status.RUNNING)
    return runs.update(lease_until=to_db(until))


def still_ours(daemon: DaemonRecord, run_ids: list[int]) -> set[int]:
    """The runs among ``run_ids`` that ``daemon`` still owns and that are still running."""
    runs = JobRun.objects.filter(pk__in=run_ids, daemon=daemon, status=Status.RUNNING)
    return set(runs.values_list("pk", flat=True))


def stale_runs(cutoff: datetime, *, exclude: list[int]) -> list[int]:
    """Running runs whose lease ran out before ``cutoff``, other than ``exclude``."""
    runs = JobRun.objects.filter(status=Status.RUNNING, lease_until__lt=to_db(cutoff))
    return list(runs.exclude(pk__in=exclude).values_list("pk", flat=True))


def dead_local_daemons(daemon: DaemonRecord, now: datetime) -> list[int]:
    """Record as stopped the earlier daemons on this host whose process is gone, and return
    their runs still marked running."""
    earlier = DaemonRecord.objects.filter(host=HOST, stopped__isnull=True).exclude(pk=daemon.pk)
    dead = [r.pk for r in earlier if r.pid == os.getpid() or not alive(r.pid)]
    if not dead:
        return []
    DaemonRecord.objects.filter(pk__in=dead).update(stopped=to_db(now))
    runs = JobRun.objects.filter(daemon_id__in=dead, status=Status.RUNNING)
    return list(runs.values_list("pk", flat=True))


def live_daemons(now: datetime) -> list[DaemonRecord]:
    """Daemons (on any host) whose heartbeat is recent."""
    fresh = now - timedelta(seconds=2 * akjob_settings.heartbeat + akjob_settings.poll)
    return list(DaemonRecord.objects.filter(stopped__isnull=True, heartbeat__gte=to_db(fresh)))


def alive(pid: int) -> bool:
    """True if process ``pid`` exists and is not a zombie (a killed daemon whose parent never
    reaped it still has a pid, but it is dead for our purposes)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rpartition(")")[2].split()[0] != "Z"
    except (FileNotFoundError, IndexError):
        return True  # no /proc: trust kill(0)
