"""The cost of akjobd's metrics: wake-up time and firing lateness at 10,000 jobs, metrics on and
off.

    python bench/metrics.py [--jobs 10000] [--due 1000] [--window 10] [--workers 32]
                            [--db sqlite|postgres]

Lateness: ``--due`` of the ``--jobs`` jobs of ``bench/daemon.py`` due within a window (each
stamping when its code started; the others not due meanwhile) run by a real ``akjobd run``,
once with ``AKJOB_METRICS_ADDR`` unset and once with it set (and scraped every second while the
runs go on, as Prometheus would). Wake-up: the mean time of
one ``Daemon.run_once`` over a table of the same size with nothing due, with the no-op hooks and
with the Prometheus hooks. Prints two rows of the table in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import threading
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench import daemon as lateness_bench  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scraper(port: int, stop: threading.Event) -> None:
    """Scrape /metrics every second until ``stop`` (a refused connection is tried again)."""
    while not stop.wait(1.0):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
                r.read()
        except OSError:
            pass


def lateness(
    db: str, jobs: int, due: int, window: int, workers: int, metrics: bool
) -> dict[str, float]:
    base_extra = lateness_bench.SETTINGS_EXTRA
    stop = threading.Event()
    if metrics:
        port = free_port()
        lateness_bench.SETTINGS_EXTRA = base_extra + f'AKJOB_METRICS_ADDR = "127.0.0.1:{port}"\n'
        threading.Thread(target=scraper, args=(port, stop), daemon=True).start()
    try:
        return lateness_bench.lateness(db, due, window, workers, idle=jobs - due)
    finally:
        stop.set()
        lateness_bench.SETTINGS_EXTRA = base_extra


WAKEUP = """
import time
from datetime import datetime, timedelta, UTC
from django.db import transaction
from akjob.daemon.loop import Daemon
from akjob.daemon.supervisor import InlineSupervisor
from akjob.metrics import Hooks
from akjob.models import Job
from akjob.codeobjects import JobCallable
later = datetime.now(UTC) + timedelta(days=1)
with transaction.atomic():
    for i in range({jobs}):
        job = Job(name=f"job {{i}}", dates_list=[later])
        job.job_code_object = JobCallable(print)
        job.save()
def mean(hooks):
    daemon = Daemon(supervisor=InlineSupervisor(size=8), max_workers=8)
    daemon.hooks = hooks
    daemon.run_once(datetime.now(UTC))
    t = time.perf_counter()
    for _ in range(200):
        daemon.run_once(datetime.now(UTC))
    return (time.perf_counter() - t) / 200 * 1000
off = mean(Hooks())
from akjob.metrics.daemon import PrometheusHooks
on = mean(PrometheusHooks())
print(f"{{off:.3f}} {{on:.3f}}")
"""


def wakeup(db: str, jobs: int, workers: int) -> tuple[float, float]:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        project = lateness_bench.make_project(Path(tmp), db, workers)
        out = project.shell(WAKEUP.format(jobs=jobs), timeout=1800).split()
        return float(out[-2]), float(out[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=10000)
    parser.add_argument("--due", type=int, default=1000)
    parser.add_argument("--window", type=int, default=10)
    parser.add_argument("--workers", type=int, default=32)
    parser.add_argument("--db", default="sqlite")
    args = parser.parse_args()
    off_ms, on_ms = wakeup(args.db, args.jobs, args.workers)
    print("| metrics | jobs | wake-up (ms) | n | p50 (ms) | p99 (ms) | max (ms) |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for on, wake in ((False, off_ms), (True, on_ms)):
        started = time.monotonic()
        r = lateness(args.db, args.jobs, args.due, args.window, args.workers, on)
        print(
            f"| {'on' if on else 'off'} | {args.jobs} | {wake:.3f} | {r['n']} | {r['p50']:.1f} | "
            f"{r['p99']:.1f} | {r['max']:.1f} |  ({time.monotonic() - started:.0f} s)"
        )


if __name__ == "__main__":
    os.environ.setdefault("AKJOB_START_DAEMON", "False")
    main()
