"""A throw-away Django project for acceptance tests: its own directory, settings and SQLite file,
driven through the real ``manage.py`` in subprocesses."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]

SETTINGS = """
from pathlib import Path
from tests.settings import *  # noqa: F403

BASE_DIR = Path({base!r})
DATABASES = {{"default": {database!r}}}
AKJOB_HEARTBEAT = 1
AKJOB_LEASE = 3
AKJOB_STOP_GRACE = {grace}
AKJOB_POLL = 0.5
"""


class Project:
    """``database``: the settings of the default database (default: an SQLite file in ``base``);
    ``extra``: more settings, appended as Python source."""

    def __init__(
        self,
        base: Path,
        *,
        grace: float = 5,
        database: dict[str, Any] | None = None,
        extra: str = "",
    ) -> None:
        self.base = base
        self.pid_dir = base / "akjob"
        self.log_dir = base / "akjob" / "logs"
        if database is None:
            database = {
                "ENGINE": "django.db.backends.sqlite3",
                "NAME": str(base / "db.sqlite3"),
                "OPTIONS": {"timeout": 20},
            }
        settings = SETTINGS.format(base=str(base), grace=grace, database=database)
        (base / "acc_settings.py").write_text(settings + extra)
        self.env = dict(
            os.environ,
            DJANGO_SETTINGS_MODULE="acc_settings",
            PYTHONPATH=os.pathsep.join([str(base), str(REPO)]),
            AKJOB_START_DAEMON="False",
        )
        for var in ("AKJOB_TEST_DB", "AKJOB_PID_DIR", "AKJOB_PID_NAME", "AKJOB_LOG_DIR"):
            self.env.pop(var, None)

    def manage(
        self, *args: str, check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [sys.executable, str(REPO / "manage.py"), *args],
            cwd=self.base,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
            )
        return result

    def shell(self, code: str) -> str:
        return self.manage("shell", "-v", "0", "-c", code).stdout

    def sql(self, query: str, *params: Any) -> list[tuple]:
        with sqlite3.connect(self.base / "db.sqlite3", timeout=20) as db:
            return db.execute(query, params).fetchall()

    def pid(self) -> int | None:
        path = self.pid_dir / "akjobd.pid"
        try:
            return int(path.read_text().strip() or 0) or None
        except (FileNotFoundError, ValueError):
            return None

    def runs(self, job_id: int) -> list[tuple[str, str]]:
        return self.sql(
            "SELECT status, error FROM akjob_jobrun WHERE job_id = ? ORDER BY scheduled", job_id
        )


def wait_for(predicate: Callable[[], Any], *, timeout: float, what: str, every: float = 0.1) -> Any:
    """Poll ``predicate`` until it returns something truthy, or fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(every)


def alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purposes.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False
