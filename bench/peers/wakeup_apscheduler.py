"""APScheduler 3: the cost of one ``_process_jobs()`` with N jobs in its SQLAlchemy store, 1% due.

``_process_jobs`` is the whole of an APScheduler 3 wake-up: read the due jobs from the store
(unpickling each), hand them to the executor, store each one's next run time (one UPDATE and
commit per job) and find the next wake-up. The executor here starts nothing, like akjob's.
"""

from __future__ import annotations

import pickle
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from apscheduler.executors.base import BaseExecutor
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import event

from bench.peers import wakeup
from bench.peers.common import timed


def noop() -> None:
    """The job's function (never called: the executor starts nothing)."""


class NullExecutor(BaseExecutor):
    """Accepts every submission and runs nothing."""

    submitted = 0

    def _do_submit_job(self, job: Any, run_times: list[datetime]) -> None:
        self.submitted += 1


class SteppedScheduler(BackgroundScheduler):
    """A BackgroundScheduler whose wake-ups are called by hand instead of by its thread."""

    def start(self, *args: Any, **kwargs: Any) -> None:
        self._event = threading.Event()
        BaseScheduler.start(self, *args, **kwargs)

    def shutdown(self, *args: Any, **kwargs: Any) -> None:
        BaseScheduler.shutdown(self, *args, **kwargs)


class StatementTimer:
    """Statements executed on the engine and the time spent in them and in commits (ms)."""

    def __init__(self, engine: Any) -> None:
        self.totals = {"queries": 0, "db_ms": 0.0}
        self._started: list[float] = []
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)
        event.listen(engine, "commit", self._commit)

    def reset(self) -> dict[str, float]:
        self.totals = {"queries": 0, "db_ms": 0.0}
        return self.totals

    def _before(self, *args: Any) -> None:
        self._started.append(time.perf_counter())

    def _after(self, *args: Any) -> None:
        self.totals["queries"] += 1
        self.totals["db_ms"] += (time.perf_counter() - self._started.pop()) * 1000

    def _commit(self, conn: Any) -> None:
        # The "commit" event fires before the DBAPI commit: time the commit itself.
        raw = conn.connection.dbapi_connection
        start = time.perf_counter()
        raw.commit()
        self.totals["db_ms"] += (time.perf_counter() - start) * 1000


def job_state(template: dict[str, Any], i: int, next_run: datetime) -> dict[str, Any]:
    state = dict(template)
    state["id"] = f"job-{i}"
    state["name"] = f"job {i}"
    state["trigger"] = IntervalTrigger(hours=1, start_date=next_run - wakeup.HOUR, timezone=UTC)
    state["next_run_time"] = next_run
    return state


class Bench:
    def __init__(self, db: Path) -> None:
        self.store = SQLAlchemyJobStore(url=f"sqlite:///{db}")
        self.executor = NullExecutor()
        self.scheduler = SteppedScheduler(
            jobstores={"default": self.store},
            executors={"default": self.executor},
            job_defaults={"coalesce": True, "misfire_grace_time": None},
            timezone=UTC,
        )
        self.scheduler.start()
        template = self.scheduler.add_job(noop, "interval", hours=1, id="template")
        self.template = template.__getstate__()
        self.scheduler.remove_job("template")
        self.timer = StatementTimer(self.store.engine)
        self.count = 0
        self.states: dict[int, dict[str, Any]] = {}

    def grow(self, total: int, now: datetime) -> None:
        rows = []
        for i in range(self.count, total):
            state = job_state(self.template, i, wakeup.not_due_at(now, i))
            rows.append(self._row(state))
        with self.store.engine.begin() as conn:
            conn.execute(self.store.jobs_t.insert(), rows)
        self.count = total

    def _row(self, state: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": state["id"],
            "next_run_time": state["next_run_time"].timestamp(),
            "job_state": pickle.dumps(state, self.store.pickle_protocol),
        }

    def set_next(self, due: list[int], at: datetime) -> None:
        from sqlalchemy import bindparam

        rows = [self._row(job_state(self.template, i, at)) for i in due]
        for row in rows:
            row["job_id"] = row.pop("id")
        jobs = self.store.jobs_t
        update = (
            jobs.update()
            .where(jobs.c.id == bindparam("job_id"))
            .values(next_run_time=bindparam("next_run_time"), job_state=bindparam("job_state"))
        )
        with self.store.engine.begin() as conn:
            conn.execute(update, rows)

    def wake(self, samples: wakeup.Samples) -> None:
        self.executor.submitted = 0
        self.executor._instances.clear()
        db = self.timer.reset()
        ms, _ = timed(self.scheduler._process_jobs)
        samples.add(ms, db, self.executor.submitted)


def measure(bench: Bench, repeat: int, now: datetime) -> Any:
    def at_size(n: int, due: list[int]) -> dict[str, Any]:
        count = wakeup.samples_for(n, repeat)
        bench.grow(n, now)
        return wakeup.due_then_idle(count, lambda at: bench.set_next(due, at), bench.wake, now)

    return at_size


def main() -> None:
    args = wakeup.arguments(__doc__)
    with tempfile.TemporaryDirectory(prefix="apscheduler-bench-") as tmp:
        bench = Bench(Path(tmp) / "jobs.sqlite")
        now = datetime.now(UTC).replace(microsecond=0)
        wakeup.run_sizes("APScheduler 3", args.sizes, measure(bench, args.repeat, now))
        bench.scheduler.shutdown(wait=False)


if __name__ == "__main__":
    main()
