"""akjobd's own figures: firing lateness, the cost of one wake-up, idle CPU and memory.

    python bench/daemon.py [--jobs 1000] [--window 10] [--table 100000] [--db sqlite|postgres]

Lateness: N jobs due within a window of seconds, run by a real ``akjobd run``; each job records
when its code started; lateness = start - scheduled. Wake-up: one ``Daemon.run_once`` with a
table of M jobs of which 1% are due (database time per wake-up, runs not executed), and the idle
wake-up. Idle: CPU and RSS of a real akjobd over 10 s with M jobs in the table, none due.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.peers.common import lateness_summary  # noqa: E402
from tests.acceptance.project import Project, wait_for  # noqa: E402

SETTINGS_EXTRA = """
AKJOB_MAX_WORKERS = {workers}
"""


def make_project(base: Path, db: str, workers: int) -> Project:
    project = Project(base)
    settings = base / "acc_settings.py"
    text = settings.read_text() + SETTINGS_EXTRA.format(workers=workers)
    if db == "postgres":
        text += (
            "\nDATABASES = {'default': {'ENGINE': 'django.db.backends.postgresql', "
            "'NAME': 'akjob_bench', 'USER': 'postgres', 'HOST': '127.0.0.1'}}\n"
        )
        subprocess.run(
            ["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists", "akjob_bench"]
        )
        subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", "akjob_bench"], check=True)
    settings.write_text(text)
    project.manage("migrate", "--noinput")
    return project


CREATE = """
import random
from datetime import datetime, timedelta, UTC
from django.db import transaction
from akjob.models import Job
from bench.jobs import Stamp
start = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds={lead})
code = Stamp({path!r})
with transaction.atomic():
    for i in range({jobs}):
        when = start + timedelta(seconds=random.randrange({window}))
        job = Job(name=str(int(when.timestamp())), dates_list=[when])
        job.job_code_object = code
        job.save()
    later = start + timedelta(days=1)
    for i in range({idle}):  # jobs in the table, none due meanwhile
        job = Job(name=str(int(later.timestamp())), dates_list=[later])
        job.job_code_object = code
        job.save()
print(int(start.timestamp()))
"""


def lateness(db: str, jobs: int, window: int, workers: int, idle: int = 0) -> dict[str, float]:
    """``jobs`` due within ``window`` seconds, beside ``idle`` jobs not due meanwhile."""
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        project = make_project(base, db, workers)
        stamps = base / "stamps"
        # time to create the jobs and start the daemon (AKJOB_BENCH_LEAD: more, on a busy machine)
        # and for it to fork its workers, a process each (docs/guarantees.md, "Isolation").
        lead = int(os.environ.get("AKJOB_BENCH_LEAD", 20 + jobs // 40 + idle // 100))
        out = project.shell(
            CREATE.format(lead=lead, path=str(stamps), jobs=jobs, window=window, idle=idle),
            timeout=1800,
        )
        start = int(out.split()[-1])
        # AKJOB_BENCH_PROFILE=file: the daemon runs under cProfile (its own process, not its
        # workers) and writes its profile there when it stops.
        profile = os.environ.get("AKJOB_BENCH_PROFILE")
        python = [sys.executable, "-m", "cProfile", "-o", profile] if profile else [sys.executable]
        daemon = subprocess.Popen(
            [*python, str(REPO / "manage.py"), "akjobd", "run"],
            cwd=base,
            env=project.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            # What is measured is a daemon at work, not one starting: its workers are forked
            # (it does that once, while idle) before the first occurrence comes near.
            wait_for(
                lambda: len(_children(daemon.pid)) >= workers,
                timeout=max(start - 2 - time.time(), 0.1),
                what=f"akjobd's {workers} workers before the first occurrence (raise the lead)",
            )
            # The CPU the runs cost: akjobd and its workers from a second before the first
            # occurrence to the last run.
            time.sleep(max(start - 1 - time.time(), 0))
            before = _tree_cpu(daemon.pid)
            wait_for(
                lambda: stamps.exists() and len(stamps.read_text().splitlines()) >= jobs,
                timeout=lead + window + 120,
                what=f"{jobs} runs",
                every=0.05,
            )
            cpu = _tree_cpu(daemon.pid) - before
        finally:
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(60)
        if os.environ.get("AKJOB_BENCH_KEEP"):
            Path(os.environ["AKJOB_BENCH_KEEP"]).write_text(stamps.read_text())
        late = []
        for line in stamps.read_text().splitlines():
            scheduled, started = line.split()
            late.append((float(started) - float(scheduled)) * 1000)
    return lateness_summary(late, cpu)


def _stat(pid: int) -> list[str]:
    """The fields of /proc/pid/stat after the command name (state first)."""
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rpartition(")")[2].split()


def _children(pid: int) -> dict[int, list[str]]:
    """The live child processes of ``pid`` (akjobd's workers) and their stat fields."""
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != pid:
            try:
                fields = _stat(int(entry))
            except OSError:
                continue
            if int(fields[1]) == pid:
                found[int(entry)] = fields
    return found


def _tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) of process ``pid``, of its children that ended, and of those
    alive (akjobd's workers), read from /proc."""
    total = sum(int(v) for v in _stat(pid)[11:15])  # utime stime cutime cstime
    total += sum(int(f[11]) + int(f[12]) for f in _children(pid).values())
    return total / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--window", type=int, default=10)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--db", default="sqlite")
    args = parser.parse_args()
    result = lateness(args.db, args.jobs, args.window, args.workers)
    print(
        f"| akjob ({args.db}, {args.workers} workers) | {result['n']} | {result['p50']:.1f} | "
        f"{result['p99']:.1f} | {result['max']:.1f} |"
    )


if __name__ == "__main__":
    os.environ.setdefault("AKJOB_START_DAEMON", "False")
    main()
