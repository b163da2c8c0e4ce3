"""Membership: this daemon among the others, as the database shows them.

A daemon heartbeats and renews the leases of its runs. A run is declared dead (interrupted)
only when it truly is:

- a run of a daemon on this host whose process is gone: its process group is killed, and waited
  for, before the run is declared (at once at start-up, or once its lease ran out);
- a run of a daemon on another host: once its lease ran out, plus a grace that covers this
  daemon's own lag, since its processes cannot be reached from here.

A daemon that finds runs of its own declared dead by others (it was paused past their lease)
kills their process groups: they must not go on beside the runs that follow them.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from datetime import datetime, timedelta
from pathlib import Path

from akjob.daemon import dispatcher, store
from akjob.daemon.supervisor import kill_group
from akjob.models import DaemonRecord
from akjob.timeutil import to_aware

log = logging.getLogger("akjob.daemon")
KILL_WAIT = 5.0  # seconds to wait for a killed process group to be gone
START_SLACK = 2.0  # a run's process starts before its record (forked ahead) by less than this


def interrupt_dead(
    runs: list[store.RunRef],
    *,
    reason: str,
    now: datetime,
    daemon: DaemonRecord,
    stale_before: datetime | None = None,
) -> int:
    """Declare these runs interrupted, after killing the process groups of those on this host;
    a run whose processes would not die is left running (and tried again later).

    A run on this host is first taken over by ``daemon`` (still running, and, with
    ``stale_before``, its lease still run out): its owner, should it wake now, can no longer
    record the death it is about to see as an outcome of its own, and a run whose owner renewed
    its lease meanwhile is left alone."""
    dead = []
    for run_id, host, pid, started in runs:
        if _reachable(host, pid) and not store.take_over(run_id, daemon, stale_before):
            continue  # its owner renewed it, or another daemon is at it
        if _gone(host, pid, started):
            dead.append(run_id)
    if len(dead) < len(runs):
        left = len(runs) - len(dead)
        log.error("%d run(s) of a dead daemon still have processes; tried again later", left)
    return dispatcher.interrupt(dead, reason=reason, now=now) if dead else 0


def _reachable(host: str, pgid: int | None) -> bool:
    return host == store.HOST and bool(pgid) and pgid != os.getpid()


def _gone(host: str, pgid: int | None, started: datetime | None) -> bool:
    if not _reachable(host, pgid):
        return True  # out of reach: the lease rule decides
    if not _ours(pgid, to_aware(started)):
        return True  # that pid now belongs to another process: the run's group is gone
    kill_group(pgid, signal.SIGKILL)
    deadline = time.monotonic() + KILL_WAIT
    while group_members(pgid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def _ours(pgid: int, started: datetime | None) -> bool:
    """Whether the process that leads group ``pgid`` (if any) can be the run's own: it started
    before the run was recorded. A pid is not reused while its group has members, so a group
    without a leader is the run's."""
    begun = process_start(pgid)
    if begun is None or started is None:
        return True
    return begun <= started.timestamp() + START_SLACK


def group_members(pgid: int) -> list[int]:
    """The live (not zombie) processes of group ``pgid``."""
    members = []
    try:
        entries = list(Path("/proc").iterdir())
    except OSError:  # no /proc: ask the kernel whether anything is left
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return []
        return [pgid]
    for entry in entries:
        if not entry.name.isdigit():
            continue
        fields = _stat(entry.name)
        if fields and int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            members.append(int(entry.name))
    return members


def process_start(pid: int) -> float | None:
    """The epoch time process ``pid`` started, or None if it does not exist (or no /proc)."""
    fields = _stat(str(pid))
    if fields is None:
        return None
    try:
        boot = next(
            float(line.split()[1])
            for line in Path("/proc/stat").read_text().splitlines()
            if line.startswith("btime")
        )
    except (OSError, StopIteration):
        return None
    return boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")


def _stat(pid: str) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (state first)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rpartition(")")[2].split()


def recover_dead_local(daemon: DaemonRecord, now: datetime) -> int:
    """Record as stopped the earlier daemons on this host whose process is gone, kill what is
    left of their runs, and declare those runs interrupted."""
    dead = [r.pk for r in store.earlier_local_daemons(daemon) if not alive(r.pid)]
    if not dead:
        return 0
    store.mark_stopped(dead, now)
    runs = store.runs_of(dead)
    n = interrupt_dead(runs, reason="its akjobd process died", now=now, daemon=daemon)
    if n:
        log.warning("%d run(s) of a dead akjobd on this host marked interrupted", n)
    return n


def interrupt_stale(
    now: datetime, *, daemon: DaemonRecord, heartbeat: float, lag: float, mine: list[int]
) -> int:
    """Declare the runs of other daemons whose lease ran out long enough ago: after the lease,
    a grace that covers this daemon's own lag (it may have been paused itself)."""
    cutoff = now - timedelta(seconds=heartbeat + max(lag, heartbeat))
    stale = store.stale_runs(cutoff, exclude=mine)
    if not stale:
        return 0
    why = "its akjobd stopped heartbeating"
    n = interrupt_dead(stale, reason=why, now=now, daemon=daemon, stale_before=cutoff)
    log.warning("%d run(s) of silent daemons marked interrupted", n)
    return n


def alive(pid: int) -> bool:
    """True if process ``pid`` exists and is not a zombie (a killed daemon whose parent never
    reaped it still has a pid, but it is dead for our purposes)."""
    if pid == os.getpid():
        return False  # a record of an earlier process with this pid: that one is gone
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    fields = _stat(str(pid))
    return fields is None or fields[0] not in ("Z", "X")
