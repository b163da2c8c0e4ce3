"""Firing lateness (start − scheduled) of 1,000 jobs due within 10 s, one scheduler per process.

    python -m bench.peers.lateness akjob-sqlite | akjob-postgres | apscheduler | apscheduler-spread

akjob: a real ``akjobd run`` on a throw-away project (``bench/daemon.py``'s ``lateness()``), each
job's code recording when it started. APScheduler 3: a BackgroundScheduler in this process with
its SQLAlchemy store on SQLite and a pool of threads; each job's function records when it
started. The jobs are due on whole seconds (akjob's resolution), picked at random in the window,
for both: about a hundred jobs share each second. ``apscheduler-spread`` spreads them over the
window at microsecond resolution instead, which APScheduler can express and akjob cannot.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.peers.common import emit, lateness_summary

WORKERS = 32
LATE: list[float] = []  # milliseconds, appended by stamp() in the scheduler's threads


def stamp(scheduled: float) -> None:
    """APScheduler's job: how late it started, in milliseconds."""
    LATE.append((time.time() - scheduled) * 1000)


def apscheduler_lateness(jobs: int, window: int, workers: int, spread: bool) -> dict[str, float]:
    from apscheduler.executors.pool import ThreadPoolExecutor
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.background import BackgroundScheduler

    from bench.peers import lateness as me  # the module the job's textual reference imports

    with tempfile.TemporaryDirectory(prefix="apscheduler-late-") as tmp:
        scheduler = BackgroundScheduler(
            jobstores={"default": SQLAlchemyJobStore(url=f"sqlite:///{Path(tmp) / 'jobs.db'}")},
            executors={"default": ThreadPoolExecutor(workers)},
            job_defaults={"misfire_grace_time": None},
            timezone=UTC,
        )
        scheduler.start(paused=True)
        start = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=4 + jobs // 200)
        draw = random.Random(jobs)
        for i in range(jobs):
            offset = draw.uniform(0, window) if spread else draw.randrange(window)
            when = start + timedelta(seconds=offset)
            scheduler.add_job(
                "bench.peers.lateness:stamp",
                "date",
                run_date=when,
                args=[when.timestamp()],
                id=f"job-{i}",
            )
        if datetime.now(UTC) >= start:
            raise RuntimeError("adding the jobs took longer than the lead time")
        cpu = time.process_time()
        scheduler.resume()
        deadline = time.monotonic() + (start - datetime.now(UTC)).total_seconds() + window + 60
        while len(me.LATE) < jobs and time.monotonic() < deadline:
            time.sleep(0.2)
        scheduler.shutdown(wait=True)
        cpu = time.process_time() - cpu
        late = list(me.LATE)
    return lateness_summary(late, cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "who", choices=["akjob-sqlite", "akjob-postgres", "apscheduler", "apscheduler-spread"]
    )
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--window", type=int, default=10)
    parser.add_argument("--workers", type=int, default=WORKERS)
    args = parser.parse_args()
    result: dict[str, Any]
    if args.who.startswith("apscheduler"):
        spread = args.who.endswith("spread")
        result = apscheduler_lateness(args.jobs, args.window, args.workers, spread)
    else:
        from bench.daemon import lateness

        result = lateness(args.who.split("-")[1], args.jobs, args.window, args.workers)
    emit(result | {"who": args.who, "workers": args.workers})


if __name__ == "__main__":
    main()
