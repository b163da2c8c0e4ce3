"""Django system checks for akjob (``python manage.py check``). The ids are stable:

- ``akjob.E001``: an ``AKJOB_*`` setting has a value akjobd cannot use.
- ``akjob.E002``: the pid directory cannot be written or created.
- ``akjob.E003``: the log directory cannot be written or created.
- ``akjob.E004``: ``AKJOB_DEFAULT_TIMEZONE`` names no known time zone.
- ``akjob.E005``: a schedule declared in code (``@akjob.scheduled``, ``AKJOB_SCHEDULES``) is
  invalid; the message names the function (or the setting's key) and the option. Declaring never
  raises, so the process that imports the module starts all the same; a sync leaves the job of
  an invalid declaration as it is.
- ``akjob.W001``: ``USE_TZ`` is off. akjob works in naive local time then, but run times in the
  hour repeated when daylight saving time ends are ambiguous.
- ``akjob.W002``: ``AKJOB_DAEMONS`` (how many akjobd processes you run against akjob's database)
  is above 1 while that database is SQLite, where only one akjobd runs: the others refuse to start.

A process that never runs akjobd (a read-only web container) may silence E002/E003 with
``SILENCED_SYSTEM_CHECKS``. ``akjobd start`` and ``run`` refuse to start while an error of these
checks stands (:func:`refusals`), so a bad setting is reported at once and not by a daemon that
died in the background.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured

from akjob.conf import akjob_settings

TAG = "akjob"
DAEMONS_SETTING = "AKJOB_DAEMONS"


def register() -> None:
    """Register akjob's checks (called from ``AppConfig.ready()``)."""
    for check in (
        check_settings,
        check_directories,
        check_time_zone,
        check_default_timezone,
        check_sqlite_daemons,
        check_declarations,
    ):
        checks.register(check, TAG)


def check_default_timezone(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """``AKJOB_DEFAULT_TIMEZONE``: "UTC", "TIME_ZONE" (Django's setting) or an IANA name."""
    try:
        akjob_settings.default_timezone  # noqa: B018 - reading it is the check
    except ImproperlyConfigured:
        value = getattr(settings, "AKJOB_DEFAULT_TIMEZONE", None)
        return [
            checks.Error(
                f"AKJOB_DEFAULT_TIMEZONE = {value!r} is not a known IANA time zone"
                f" (it reads as {akjob_settings.default_timezone_name!r}).",
                hint='Use "UTC", "TIME_ZONE" (Django\'s TIME_ZONE) or a name like "Europe/Paris".',
                id="akjob.E004",
                obj="AKJOB_DEFAULT_TIMEZONE",
            )
        ]
    return []


def check_declarations(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Every schedule declared in code reads and checks cleanly (docs/schedules-in-code.md)."""
    from akjob import declare

    try:
        _valid, invalid = declare.collect()
    except Exception as exc:  # noqa: BLE001 - a module that fails to import, reported as such
        return [
            checks.Error(
                f"the schedules declared in code cannot be read: {exc!r}",
                hint="akjob imports the jobs and tasks modules of every installed app.",
                id="akjob.E005",
            )
        ]
    return [
        checks.Error(
            f"the schedule declared for {bad.origin} is invalid: {bad.message}",
            hint="See docs/schedules-in-code.md for the options and their values.",
            id="akjob.E005",
            obj=bad.origin,
        )
        for bad in invalid
    ]


def check_time_zone(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    if settings.USE_TZ:
        return []
    return [
        checks.Warning(
            "USE_TZ is off: akjob reads and stores run times in the local time of TIME_ZONE, "
            "where times in the hour repeated when daylight saving time ends are ambiguous.",
            hint="Set USE_TZ = True (times are then stored in UTC).",
            id="akjob.W001",
        )
    ]


def _positive_number(value: Any, *, allow_zero: bool = False) -> bool:
    if isinstance(value, timedelta):
        value = value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return value >= 0 if allow_zero else value > 0


_RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "AKJOB_MAX_WORKERS": (
        lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 1,
        "an int >= 1",
    ),
    "AKJOB_RUNS_KEPT": (
        lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0,
        "an int >= 0",
    ),
    "AKJOB_HEARTBEAT": (_positive_number, "a positive timedelta or number of seconds"),
    "AKJOB_LEASE": (_positive_number, "a positive timedelta or number of seconds"),
    "AKJOB_POLL": (_positive_number, "a positive timedelta or number of seconds"),
    "AKJOB_STOP_GRACE": (
        lambda v: _positive_number(v, allow_zero=True),
        "a timedelta or number of seconds >= 0",
    ),
    "AKJOB_PID_NAME": (
        lambda v: isinstance(v, str) and v not in {"", ".", ".."} and "/" not in v,
        "a file name (no directory)",
    ),
    DAEMONS_SETTING: (
        lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 1,
        "an int >= 1",
    ),
    "AKJOB_LOOKAHEAD": (
        lambda v: _positive_number(v, allow_zero=True),
        "a timedelta or number of seconds >= 0",
    ),
    "AKJOB_SYNC_REMOVED": (lambda v: v in ("disable", "delete"), '"disable" or "delete"'),
    "AKJOB_START_TIMEOUT": (_positive_number, "a positive timedelta or number of seconds"),
    "AKJOB_OUT_KEEP": (
        lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 1,
        "an int >= 1",
    ),
    "AKJOB_ALERT_CHECK": (_positive_number, "a positive timedelta or number of seconds"),
    "AKJOB_ALERT_EMAILS": (
        lambda v: (
            v is None
            or (isinstance(v, list | tuple) and all(isinstance(a, str) and "@" in a for a in v))
        ),
        "None or a list of e-mail addresses",
    ),
    "AKJOB_METRICS_ADDR": (
        lambda v: v is None or v == "" or _address(v),
        'None or "host:port" (":port" for every interface)',
    ),
    "AKJOB_METRICS_JOB_LABELS": (
        lambda v: isinstance(v, bool) or (isinstance(v, int) and v >= 0),
        "True, False or an int >= 0 (how many job names may become labels)",
    ),
    "AKJOB_LOG_FORMAT": (lambda v: v in ("text", "json"), '"text" or "json"'),
    "AKJOB_OTEL": (lambda v: isinstance(v, bool), "True or False"),
    "AKJOB_CATCH_UP_MAX": (
        lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 1,
        "an int >= 1",
    ),
}


def _address(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    port = value.rpartition(":")[2]
    return port.isdigit() and 0 < int(port) < 65536


def check_settings(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    errors: list[checks.CheckMessage] = []
    for name, (valid, expected) in _RULES.items():
        if not hasattr(settings, name):
            continue
        value = getattr(settings, name)
        if not valid(value):
            errors.append(
                checks.Error(f"{name} = {value!r} is not {expected}.", id="akjob.E001", obj=name)
            )
    return errors


def check_directories(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    return _directories(akjob_settings.pid_dir, akjob_settings.log_dir)


def _directories(pid_dir: Path, log_dir: Path) -> list[checks.CheckMessage]:
    errors: list[checks.CheckMessage] = []
    for what, path, check_id, setting in (
        ("pid directory", pid_dir, "akjob.E002", "AKJOB_PID_DIR"),
        ("log directory", log_dir, "akjob.E003", "AKJOB_LOG_DIR"),
    ):
        problem = directory_problem(path)
        if problem:
            errors.append(
                checks.Error(
                    f"akjobd's {what} {path} {problem}.",
                    hint=f"Set {setting} (setting or environment variable) to a writable one.",
                    id=check_id,
                )
            )
    return errors


def directory_problem(path: Path) -> str | None:
    """Why akjobd could not create files in ``path`` (creating it if needed), or None."""
    path = Path(path).absolute()
    if path.exists():
        if not path.is_dir():
            return "exists and is not a directory"
        if not os.access(path, os.W_OK | os.X_OK):
            return "is not writable"
        return None
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        return f"cannot be created: {parent} is not a directory"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"cannot be created: {parent} is not writable"
    return None


def check_sqlite_daemons(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    from django.db import connections, router

    from akjob.models import Job

    daemons = getattr(settings, DAEMONS_SETTING, 1)
    if not isinstance(daemons, int) or daemons <= 1:
        return []
    alias = router.db_for_write(Job)
    if connections[alias].vendor != "sqlite":
        return []
    return [
        checks.Warning(
            f"{DAEMONS_SETTING} = {daemons}, but akjob's database ({alias!r}) is SQLite: only one "
            "akjobd runs per SQLite database, the others refuse to start.",
            hint="Run one akjobd, or keep akjob's tables in PostgreSQL or MySQL/MariaDB.",
            id="akjob.W002",
        )
    ]


def refusals(pid_dir: Path, log_dir: Path) -> list[checks.CheckMessage]:
    """The errors that keep akjobd from starting with these directories: akjob's checks of the
    settings, of the default time zone and of the directories actually used (options included),
    less those in ``SILENCED_SYSTEM_CHECKS``."""
    found = check_settings() + check_default_timezone() + _directories(pid_dir, log_dir)
    silenced = set(getattr(settings, "SILENCED_SYSTEM_CHECKS", ()))
    return [m for m in found if m.is_serious() and m.id not in silenced]


def unapplied_migrations() -> list[str]:
    """akjob's migrations not applied to the database its jobs live in (read from the database;
    a database that cannot be reached raises the driver's error)."""
    from django.db import connections, router
    from django.db.migrations.loader import MigrationLoader

    from akjob.models import Job

    loader = MigrationLoader(connections[router.db_for_write(Job)], ignore_no_migrations=True)
    wanted = loader.graph.forwards_plan(loader.graph.leaf_nodes(TAG)[0])
    return [
        name for app, name in wanted if app == TAG and (app, name) not in loader.applied_migrations
    ]


def migration_problem() -> str | None:
    """Why akjobd cannot work on its database yet (akjob's migrations not applied), or None."""
    missing = unapplied_migrations()
    if not missing:
        return None
    return (
        f"akjob's migrations are not applied to its database ({', '.join(missing)}); "
        "run: python manage.py migrate"
    )


def describe(messages: list[checks.CheckMessage]) -> str:
    """Check messages on one line each: ``akjob.E001: AKJOB_POLL = 'fast' is not …``."""
    lines = []
    for message in messages:
        hint = f" {message.hint}" if message.hint else ""
        lines.append(f"{message.id}: {message.msg}{hint}")
    return "\n".join(lines)
