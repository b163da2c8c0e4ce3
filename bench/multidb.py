"""Several akjobd processes on one PostgreSQL database against one: firing lateness and runs per
second.

    python bench/multidb.py [--jobs 3000] [--window 30] [--daemons 3] [--workers 4] [--db postgres]

Two loads, each on a fresh database, first with one ``akjobd run`` and then with ``--daemons``:

- steady: ``--jobs`` one-off jobs due at times spread evenly over ``--window`` seconds;
- burst: the same number of jobs all due in the same second (how fast a backlog drains).

Each job's code appends its scheduled time and its start to a file; lateness = start -
scheduled, and runs per second = runs / (last start - first scheduled time). The daemons log at
WARNING, so that what is measured is scheduling, not log writing. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.peers.common import percentile  # noqa: E402
from tests.acceptance.project import Project, wait_for  # noqa: E402
from tests.multidb.cluster import Cluster  # noqa: E402
from tests.multidb.servers import fresh_database  # noqa: E402

SETTINGS = """
AKJOB_MAX_WORKERS = {workers}
AKJOB_RUNS_KEPT = 10
LOGGING = {{
    "version": 1,
    "disable_existing_loggers": False,
    "loggers": {{"akjob": {{"level": "WARNING"}}}},
}}
"""

CREATE = """
from datetime import datetime, timedelta, UTC
from akjob import signing
from akjob.models import Job
from bench.jobs import Stamp
start = {start}
hour = timedelta(hours=1)
jobs = []
for i in range({jobs}):
    when = datetime.fromtimestamp(start + (i * {window}) // {jobs}, UTC)
    jobs.append(Job(name=str(int(when.timestamp())), run_every=hour, run_count_limit=1,
                    _last_interval=when - hour, _next_run=when))
Job.objects.bulk_create(jobs, batch_size=500)
signing.sign_rows(Stamp({path!r}), Job.objects.values_list("pk", flat=True))
"""


@dataclass
class Result:
    daemons: int
    load: str
    runs: int
    p50: float
    p99: float
    rate: float
    shares: list[int]


def measure(db: str, daemons: int, workers: int, jobs: int, window: int, load: str) -> Result:
    with fresh_database(db) as database, tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        project = Project(base, database=database.settings, extra=SETTINGS.format(workers=workers))
        project.manage("migrate", "--noinput", timeout=180)
        stamps = base / "stamps"
        start = int(time.time()) + 8
        spread = window if load == "steady" else 1
        project.shell(CREATE.format(start=start, path=str(stamps), jobs=jobs, window=spread))
        cluster = Cluster(project, database, daemons)
        try:
            cluster.start()
            wait_for(
                lambda: stamps.exists() and len(stamps.read_text().splitlines()) >= jobs,
                timeout=spread + 8 + 300,
                what=f"{jobs} runs",
                every=0.5,
            )
            shares = Counter(
                daemon for (daemon,) in database.query("SELECT daemon_id FROM akjob_jobrun")
            )
            cluster.stop(timeout=60)
        finally:
            cluster.kill_all()
        pairs = [line.split() for line in stamps.read_text().splitlines()]
    late = [(float(started) - float(scheduled)) * 1000 for scheduled, started in pairs]
    first = min(float(scheduled) for scheduled, _ in pairs)
    last = max(float(started) for _, started in pairs)
    return Result(
        daemons,
        load,
        len(pairs),
        statistics.median(late),
        percentile(late, 99),
        len(pairs) / max(last - first, 1e-9),
        sorted(shares.values(), reverse=True),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=3000)
    parser.add_argument("--window", type=int, default=30, help="seconds the steady load spans")
    parser.add_argument("--daemons", type=int, default=3)
    parser.add_argument("--workers", type=int, default=4, help="AKJOB_MAX_WORKERS per daemon")
    parser.add_argument("--db", default="postgres", choices=["postgres", "mysql"])
    args = parser.parse_args()
    results = [
        measure(args.db, n, args.workers, args.jobs, args.window, load)
        for load in ("steady", "burst")
        for n in (1, args.daemons)
    ]
    offered = args.jobs / args.window
    print(
        f"{args.jobs} jobs on {args.db}, {args.workers} workers per daemon, {os.cpu_count()} CPUs;"
        f" steady = due evenly over {args.window} s ({offered:.0f}/s offered),"
        " burst = all due in the same second\n"
    )
    print("| daemons | load | runs | lateness p50 (ms) | p99 (ms) | runs/s | runs per daemon |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        shares = " / ".join(str(n) for n in r.shares)
        print(
            f"| {r.daemons} | {r.load} | {r.runs} | {r.p50:.0f} | {r.p99:.0f} | {r.rate:.0f} "
            f"| {shares} |"
        )


if __name__ == "__main__":
    os.environ.setdefault("AKJOB_START_DAEMON", "False")
    main()
