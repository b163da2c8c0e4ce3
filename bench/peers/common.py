"""What the measurement scripts share: statistics, the result line, a throw-away Django project."""

from __future__ import annotations

import gc
import importlib.util
import json
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
RESULT = "BENCH-RESULT "
# The throw-away project's apps; a peer missing from this environment is left out, so that
# akjob's own measurements run from akjob's virtualenv alone.
INSTALLED = ["django.contrib.contenttypes", "django.contrib.auth", "akjob"]
INSTALLED += ["django_celery_beat", "django_q"]

SETTINGS = """
SECRET_KEY = "akjob-bench-not-secret"
USE_TZ = True
TIME_ZONE = "UTC"
DEBUG = False
INSTALLED_APPS = {apps!r}
DATABASES = {{"default": {database!r}}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
Q_CLUSTER = {{
    "name": "bench",
    "orm": "default",
    "catch_up": False,
    "timeout": 60,
    "retry": 120,
    "log_level": "ERROR",
}}
DJANGO_CELERY_BEAT_TZ_AWARE = True
LOGGING = {{"version": 1, "disable_existing_loggers": False, "root": {{"level": "ERROR"}}}}
"""


def median(values: list[float]) -> float:
    return statistics.median(values)


def percentile(values: list[float], q: float) -> float:
    """The nearest-rank ``q``-th percentile (0–100) of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def lateness_summary(late_ms: list[float], cpu_seconds: float) -> dict[str, float]:
    """p50, p99 and max of the lateness figures (ms), their count, and the CPU per run (ms)."""
    return {
        "p50": statistics.median(late_ms),
        "p99": percentile(late_ms, 99),
        "max": max(late_ms),
        "n": len(late_ms),
        "cpu_ms_per_run": cpu_seconds * 1000 / max(len(late_ms), 1),
    }


def emit(result: Any) -> None:
    """Hand the result to ``bench/run.py``: one line, JSON, after a marker."""
    sys.stdout.write(RESULT + json.dumps(result) + "\n")
    sys.stdout.flush()


def timed(call: Callable[[], Any]) -> tuple[float, Any]:
    """(milliseconds, result) of one call, started after a garbage collection so that no
    sample pays for the objects the set-up left behind."""
    gc.collect()
    start = time.perf_counter()
    value = call()
    return (time.perf_counter() - start) * 1000, value


def django_project(
    base: Path, apps: list[str], db_name: str = "db.sqlite3", database: dict | None = None
) -> Path:
    """Configure Django in this process for a throw-away project in ``base`` (akjob,
    django-celery-beat and django-q2 installed where present), migrate ``apps``, return the
    SQLite file. ``database``: Django's settings of another database to use instead."""
    import django
    from django.core.management import call_command

    base.mkdir(parents=True, exist_ok=True)
    db = base / db_name
    installed = [app for app in INSTALLED if importlib.util.find_spec(app) is not None]
    database = database or {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(db),
        "OPTIONS": {"timeout": 30},
    }
    settings = SETTINGS.format(database=database, apps=installed)
    (base / "bench_settings.py").write_text(settings)
    sys.path.insert(0, str(base))
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench_settings"
    os.environ["AKJOB_START_DAEMON"] = "False"
    django.setup()
    for app in apps:
        call_command("migrate", app, verbosity=0, interactive=False)
    return db


@contextmanager
def query_timer() -> Iterator[dict[str, float]]:
    """Count the default connection's statements; add up the time spent in them and in commits
    (ms)."""
    from django.db import connection

    totals = {"queries": 0, "db_ms": 0.0}

    def wrapper(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any):
        start = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            totals["queries"] += 1
            totals["db_ms"] += (time.perf_counter() - start) * 1000

    commit = connection._commit

    def timed_commit() -> Any:
        start = time.perf_counter()
        try:
            return commit()
        finally:
            totals["db_ms"] += (time.perf_counter() - start) * 1000

    connection._commit = timed_commit  # commits are database time too (SQLite syncs there)
    try:
        with connection.execute_wrapper(wrapper):
            yield totals
    finally:
        del connection._commit


def insert_rows(template: Any, varying: list[str], rows: Iterable[Sequence[Any]]) -> None:
    """Insert many rows of ``template``'s model in one ``executemany``: every column as in
    ``template``, except the ``varying`` fields, whose values each row gives. (The ORM's
    bulk_create is slow at 100k rows on SQLite: a few dozen rows per statement.)"""
    from django.db import connection, transaction

    model = type(template)
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    base = {f.column: f.get_db_prep_save(f.pre_save(template, True), connection) for f in fields}
    vary = [model._meta.get_field(name) for name in varying]
    columns = [f.column for f in fields]
    quote = connection.ops.quote_name
    sql = "INSERT INTO {} ({}) VALUES ({})".format(
        quote(model._meta.db_table),
        ", ".join(quote(c) for c in columns),
        ", ".join(["%s"] * len(columns)),
    )
    prepared: list[dict[Any, Any]] = [{} for _ in vary]  # many rows share values: prepare once
    params = []
    for row in rows:
        values = dict(base)
        for field, cache, value in zip(vary, prepared, row, strict=True):
            if value not in cache:
                cache[value] = field.get_db_prep_save(value, connection)
            values[field.column] = cache[value]
        params.append([values[c] for c in columns])
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.executemany(sql, params)
