"""django-q2: the cost of one ``scheduler()`` call with N schedules, 1% due (SQLite).

``scheduler()`` is what the cluster runs every 30 s or so: it selects the due schedules, creates
a task for each, enqueues it (on the ORM broker here: one row per task, in the same database) and
saves the schedule's next run. All due schedules are handled in one call.
"""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.peers import wakeup
from bench.peers.common import django_project, insert_rows, query_timer, timed


def grow(total: int, now: datetime) -> list[int]:
    from django_q.models import Schedule

    template = Schedule(name="job", func="math.floor", args="1.5", schedule_type=Schedule.HOURLY)
    rows = [(f"job {i}", wakeup.not_due_at(now, i)) for i in range(Schedule.objects.count(), total)]
    insert_rows(template, ["name", "next_run"], rows)
    return list(Schedule.objects.order_by("pk").values_list("pk", flat=True))


def set_next(ids: list[int], at: datetime) -> None:
    from django.db import transaction
    from django_q.models import OrmQ, Schedule

    with transaction.atomic():
        for start in range(0, len(ids), 500):
            Schedule.objects.filter(pk__in=ids[start : start + 500]).update(next_run=at)
        OrmQ.objects.all().delete()


def measure(repeat: int, now: datetime) -> Any:
    from django_q.brokers import get_broker
    from django_q.models import OrmQ
    from django_q.scheduler import scheduler

    broker = get_broker()

    def call(samples: wakeup.Samples) -> None:
        with query_timer() as db:
            ms, _ = timed(lambda: scheduler(broker=broker))
        samples.add(ms, db, OrmQ.objects.count())

    def at_size(n: int, due: list[int]) -> dict[str, Any]:
        count = wakeup.samples_for(n, repeat)
        ids = grow(n, now)
        due_ids = [ids[i] for i in due]
        return wakeup.due_then_idle(count, lambda at: set_next(due_ids, at), call, now)

    return at_size


def main() -> None:
    args = wakeup.arguments(__doc__)
    with tempfile.TemporaryDirectory(prefix="djangoq-bench-") as tmp:
        django_project(Path(tmp), apps=["django_q"])
        now = datetime.now(UTC).replace(microsecond=0)
        wakeup.run_sizes("django-q2", args.sizes, measure(args.repeat, now))


if __name__ == "__main__":
    main()
