"""django-celery-beat: the cost of one ``DatabaseScheduler.tick()`` with N entries, 1% due.

Beat keeps every entry in memory: it reads the whole table at start and after any change, and
each tick compares the whole schedule with the previous one before it looks at the heap. A tick
sends at most one due entry (to an in-memory broker here), so the time to send all due entries is
that many ticks once the heap is built: the first ones measured, the rest counted at their median.
"""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.peers import wakeup
from bench.peers.common import django_project, insert_rows, query_timer, timed

MEASURED_TICKS = 20


def grow(total: int, now: datetime) -> list[int]:
    from django_celery_beat.models import IntervalSchedule, PeriodicTask, PeriodicTasks

    hourly, _ = IntervalSchedule.objects.get_or_create(every=1, period=IntervalSchedule.HOURS)
    template = PeriodicTask(name="job", task="bench.noop", interval=hourly)
    rows = [
        (f"job {i}", wakeup.not_due_at(now, i) - wakeup.HOUR)
        for i in range(PeriodicTask.objects.count(), total)
    ]
    insert_rows(template, ["name", "last_run_at"], rows)
    PeriodicTasks.update_changed()
    return list(PeriodicTask.objects.order_by("pk").values_list("pk", flat=True))


def set_last_run(ids: list[int], at: datetime) -> None:
    from django.db import transaction
    from django_celery_beat.models import PeriodicTask, PeriodicTasks

    with transaction.atomic():
        for start in range(0, len(ids), 500):
            PeriodicTask.objects.filter(pk__in=ids[start : start + 500]).update(last_run_at=at)
    PeriodicTasks.update_changed()  # what a save() through the ORM or the admin signals


def measure(app: Any, repeat: int, now: datetime) -> Any:
    from django_celery_beat.schedulers import DatabaseScheduler

    def tick(scheduler: DatabaseScheduler, samples: wakeup.Samples) -> float:
        with query_timer() as db:
            ms, interval = timed(scheduler.tick)
        samples.add(ms, db, 1 if interval == 0 else 0)
        return ms

    def at_size(n: int, due: list[int]) -> dict[str, Any]:
        count = wakeup.samples_for(n, repeat)
        ids = grow(n, now)
        due_ids = [ids[i] for i in due]
        set_last_run(due_ids, datetime.now(UTC) - wakeup.HOUR - wakeup.DUE_AGO)
        load_ms, scheduler = timed(lambda: DatabaseScheduler(app=app, lazy=False))
        first, busy, idle, reload = (wakeup.Samples() for _ in range(4))
        tick(scheduler, first)
        for _ in range(min(len(due_ids) - 1, MEASURED_TICKS)):
            tick(scheduler, busy)
        # Steady state (the heap built): each due entry costs one tick like the measured ones.
        steady = busy if busy.ms else first
        median_tick = steady.summary("x")["x_ms"]
        all_ms = sum(steady.ms) + (len(due_ids) - len(steady.ms)) * median_tick
        # Nothing due any more, and the change noticed: the next tick reloads, then idle ticks.
        set_last_run(due_ids, datetime.now(UTC))
        tick(scheduler, reload)
        for _ in range(count):
            tick(scheduler, idle)
        result = busy.summary("due") if len(due_ids) > 1 else first.summary("due")
        result |= idle.summary("idle")
        result |= {
            "load_ms": load_ms,
            "first_ms": first.ms[0],
            "reload_ms": reload.ms[0],
            "all_ms": all_ms,
            "all_wakeups": len(due_ids),
            "all_estimated": len(steady.ms) < len(due_ids),
        }
        return result

    return at_size


def main() -> None:
    args = wakeup.arguments(__doc__)
    with tempfile.TemporaryDirectory(prefix="celerybeat-bench-") as tmp:
        django_project(Path(tmp), apps=["django_celery_beat"])
        from celery import Celery

        app = Celery("bench", broker="memory://", set_as_current=True)
        app.conf.timezone = "UTC"
        app.conf.beat_max_loop_interval = 5
        now = datetime.now(UTC).replace(microsecond=0)
        wakeup.run_sizes("django-celery-beat", args.sizes, measure(app, args.repeat, now))


if __name__ == "__main__":
    main()
