"""What the wake-up measurements share: sizes, which jobs are due, and the shape of a result.

Every scheduler gets the same table: N jobs that run every hour, their next runs spread over the
hour that starts ten minutes from now, and 1% of them (picked at random, the same for every
scheduler) made due five seconds ago. A wake-up is the scheduler's own step — akjob's
``Daemon.run_once``, celery beat's ``tick()``, django-q2's ``scheduler()``, APScheduler 3's
``_process_jobs()`` — timed alone; resetting the table between samples is not timed.
"""

from __future__ import annotations

import argparse
import random
import statistics
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.peers.common import emit

DUE_FRACTION = 0.01
HOUR = timedelta(hours=1)
DUE_AGO = timedelta(seconds=5)


def arguments(
    doc: str, *, databases: tuple[str, ...] = (), distinct: bool = False
) -> argparse.Namespace:
    """The sizes and repeats to measure; with ``databases``, also ``--db`` (which one), and with
    ``distinct``, ``--distinct`` (no two due jobs share a schedule)."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--repeat", type=int, default=5)
    if databases:
        parser.add_argument("--db", choices=databases, default=databases[0])
    if distinct:
        parser.add_argument("--distinct", action="store_true", help="no two due jobs alike")
    args = parser.parse_args()
    args.sizes = [int(n) for n in args.sizes.split(",")]
    return args


def not_due_at(now: datetime, i: int) -> datetime:
    """Job ``i``'s next run: somewhere in the hour that starts ten minutes after ``now``."""
    return now + timedelta(minutes=10, seconds=(i * 7919) % 3600)


def samples_for(n: int, repeat: int) -> int:
    """How many wake-ups to time at size ``n``: more where each is short, so that the median
    of a short, noisy figure rests on enough samples."""
    return repeat * (3 if n <= 1_000 else 2 if n <= 10_000 else 1)


def due_indices(n: int) -> list[int]:
    """Which of jobs 0…n-1 are due: 1%, at random, the same for every scheduler."""
    return sorted(random.Random(n).sample(range(n), max(1, int(n * DUE_FRACTION))))


class Samples:
    """Timings of several wake-ups: milliseconds, database milliseconds and queries each."""

    def __init__(self) -> None:
        self.ms: list[float] = []
        self.db_ms: list[float] = []
        self.queries: list[float] = []
        self.sent: list[int] = []

    def add(self, ms: float, db: dict[str, float], sent: int = 0) -> None:
        self.ms.append(ms)
        self.db_ms.append(db["db_ms"])
        self.queries.append(db["queries"])
        self.sent.append(sent)

    def summary(self, prefix: str) -> dict[str, Any]:
        if not self.ms:
            return {}
        return {
            f"{prefix}_ms": statistics.median(self.ms),
            f"{prefix}_db_ms": statistics.median(self.db_ms),
            f"{prefix}_queries": statistics.median(self.queries),
            f"{prefix}_sent": statistics.median(self.sent),
            f"{prefix}_samples": len(self.ms),
        }


def due_then_idle(
    count: int,
    set_next: Callable[[datetime], None],
    wake: Callable[[Samples], None],
    now: datetime,
) -> dict[str, Any]:
    """``count`` wake-ups with the due jobs due, then ``count`` with them an hour away; the
    summary of both (every due job is started in the one wake-up)."""
    busy, idle = Samples(), Samples()
    for _ in range(count):
        set_next(datetime.now(UTC) - DUE_AGO)
        wake(busy)
    set_next(now + HOUR)
    for _ in range(count):
        wake(idle)
    result = busy.summary("due") | idle.summary("idle")
    result["all_ms"] = result["due_ms"]
    result["all_wakeups"] = 1
    return result


def run_sizes(
    name: str, sizes: list[int], measure: Callable[[int, list[int]], dict[str, Any]]
) -> None:
    """Measure at each size (ascending: the table grows) and emit the rows."""
    rows = []
    for n in sorted(sizes):
        due = due_indices(n)
        row = {"scheduler": name, "n": n, "due": len(due)}
        row.update(measure(n, due))
        rows.append(row)
    emit(rows)
