"""akjobd at rest: resident memory and CPU of a real ``akjobd run`` with N jobs, none due.

    python -m bench.peers.idle [--sizes 1000,100000] [--seconds 10]

A throw-away project on SQLite (akjob's default settings for the poll and the heartbeat), N jobs
that run hourly with their next runs an hour away, then ``manage.py akjobd run``; after it has
settled, CPU time and memory are read from /proc for the daemon and the worker processes it
keeps ready (CPU of all of them; RSS of the daemon; PSS of all, which adds up); memory is the
largest seen in the interval.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.peers.common import REPO, emit

DEFAULTS = """
AKJOB_HEARTBEAT = 10
AKJOB_LEASE = 60
AKJOB_POLL = 1
"""
SETTLE = 3.0
TICKS = os.sysconf("SC_CLK_TCK")
PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024


def populate(total: int) -> None:
    """Add ``total`` hourly jobs, next runs 1–2 hours from now (run in the project's shell)."""
    from bench.peers import wakeup
    from bench.peers.wakeup_akjob import grow

    grow(total, datetime.now(UTC).replace(microsecond=0) + wakeup.HOUR)


def family(pid: int) -> list[int]:
    """``pid`` and its descendants."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                ppid = int(stat.read().rpartition(")")[2].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rpartition(")")[2].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICKS


def memory_mib(pid: int) -> tuple[float, float]:
    """(RSS, PSS) of one process in MiB; PSS shares the pages a worker inherited from the
    daemon between them, so PSS adds up across processes and RSS does not."""
    found = {"Rss:": 0, "Pss:": 0}
    try:
        with open(f"/proc/{pid}/smaps_rollup") as rollup:
            for line in rollup:
                key, _, rest = line.partition(" ")
                if key in found:
                    found[key] = int(rest.split()[0])
    except OSError:
        pass
    return found["Rss:"] / 1024, found["Pss:"] / 1024


def memory(pid: int) -> dict[str, float]:
    """The daemon's RSS, and the PSS of the daemon with its workers (MiB)."""
    pids = family(pid)
    return {
        "rss_mib": memory_mib(pid)[0],
        "pss_total_mib": sum(memory_mib(p)[1] for p in pids),
        "processes": len(pids),
    }


def measure(total: int, seconds: float) -> dict[str, Any]:
    from tests.acceptance.project import Project, wait_for

    with tempfile.TemporaryDirectory(prefix="akjob-idle-") as tmp:
        base = Path(tmp)
        project = Project(base)
        settings = base / "acc_settings.py"
        settings.write_text(settings.read_text() + DEFAULTS)
        project.manage("migrate", "--noinput")
        project.shell(f"from bench.peers.idle import populate; populate({total})")
        daemon = subprocess.Popen(
            [sys.executable, str(REPO / "manage.py"), "akjobd", "run"],
            cwd=base,
            env=project.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_for(project.pid, timeout=30, what="akjobd's pid file")
            time.sleep(SETTLE)
            pids = family(daemon.pid)
            cpu0, wall0 = cpu_seconds(pids), time.monotonic()
            peak = memory(daemon.pid)
            while time.monotonic() - wall0 < seconds:
                time.sleep(0.5)
                now = memory(daemon.pid)
                peak = {key: max(peak[key], now[key]) for key in now}
            cpu = cpu_seconds(family(daemon.pid)) - cpu0
            wall = time.monotonic() - wall0
            alive = daemon.poll() is None
        finally:
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(60)
    return peak | {
        "n": total,
        "cpu_percent": 100 * cpu / wall,
        "seconds": wall,
        "alive": alive,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,100000")
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    emit([measure(int(n), args.seconds) for n in args.sizes.split(",")])


if __name__ == "__main__":
    main()
