"""A throw-away Django project in a directory of its own, driven through ``manage.py`` in real
processes: its own settings module and ``manage.py``, its own SQLite file (unless another database
is given), akjobd's pid and log files under the directory. Used by the tests and the benchmarks."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
SETTINGS_MODULE = "acc_settings"

SETTINGS = """\
from pathlib import Path

from tests.settings import *  # noqa: F403

BASE_DIR = Path({base!r})
DATABASES = {{"default": {database!r}}}
AKJOB_STOP_GRACE = {grace}
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
"""

# A daemon that notices things within a second or two, for tests that wait on what it does.
QUICK = """\
AKJOB_HEARTBEAT = 1
AKJOB_LEASE = 3
AKJOB_POLL = 0.5
"""

MANAGE = f"""\
import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "{SETTINGS_MODULE}")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
"""


class Project:
    """A project written under ``base``.

    ``grace``: ``AKJOB_STOP_GRACE``; ``database``: the settings of the default database (default:
    the SQLite file ``db``); ``extra``: more settings, appended as Python source; ``quick``: a short
    heartbeat, lease and poll (False keeps akjob's defaults); ``pid_dir``, ``log_dir``: where
    :meth:`akjobd` tells akjobd to put its files (default: where the settings put them,
    ``base/akjob`` and ``base/akjob/logs``).
    """

    def __init__(
        self,
        base: Path,
        *,
        grace: float = 5,
        database: dict[str, Any] | None = None,
        extra: str = "",
        quick: bool = True,
        pid_dir: Path | None = None,
        log_dir: Path | None = None,
    ) -> None:
        self.base = base
        self.pid_dir = pid_dir or base / "akjob"
        self.log_dir = log_dir or base / "akjob" / "logs"
        self._write(database or self._sqlite(), grace, (QUICK if quick else "") + extra)
        self.env = self._environment()

    @property
    def db(self) -> Path:
        """The SQLite file of the default database settings."""
        return self.base / "db.sqlite3"

    @property
    def pid_file(self) -> Path:
        """akjobd's pid file in :attr:`pid_dir`."""
        return self.pid_dir / "akjobd.pid"

    def _sqlite(self) -> dict[str, Any]:
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(self.db),
            "OPTIONS": {"timeout": 20},
        }

    def _write(self, database: dict[str, Any], grace: float, extra: str) -> None:
        self.base.mkdir(parents=True, exist_ok=True)
        settings = SETTINGS.format(base=str(self.base), database=database, grace=grace)
        (self.base / f"{SETTINGS_MODULE}.py").write_text(settings + extra)
        (self.base / "manage.py").write_text(MANAGE)

    def _environment(self) -> dict[str, str]:
        """This process's environment less akjob's and pytest's variables, set for the project."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AKJOB_", "PYTEST_"))}
        env.update(
            DJANGO_SETTINGS_MODULE=SETTINGS_MODULE,
            PYTHONPATH=os.pathsep.join([str(self.base), str(REPO)]),
            AKJOB_START_DAEMON="False",
            PYTHONDONTWRITEBYTECODE="1",
        )
        return env

    def command(self, *args: str) -> list[str]:
        """The command line of ``manage.py *args`` in this project."""
        return [sys.executable, str(self.base / "manage.py"), *args]

    def manage(
        self, *args: str, check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        """Run ``manage.py *args`` to the end; with ``check``, fail unless it exits with 0."""
        result = subprocess.run(
            self.command(*args),
            cwd=self.base,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
            )
        return result

    def popen(self, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        """Start ``manage.py *args`` (with ``env`` instead of :attr:`env`), its output piped."""
        return subprocess.Popen(
            self.command(*args),
            cwd=self.base,
            env=env or self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def akjobd_args(self, action: str, pid_dir: Path | None = None) -> list[str]:
        """``akjobd action`` with the project's pid directory (or ``pid_dir``) and log directory."""
        return ["akjobd", action, "-pd", str(pid_dir or self.pid_dir), "-ld", str(self.log_dir)]

    def akjobd(self, action: str, pid_dir: Path | None = None) -> subprocess.CompletedProcess[str]:
        """Run ``manage.py akjobd action`` (see :meth:`akjobd_args`), whatever its exit status."""
        return self.manage(*self.akjobd_args(action, pid_dir), check=False)

    def shell(self, code: str, *, timeout: float = 60) -> str:
        """Run ``code`` in ``manage.py shell``; return what it printed."""
        return self.manage("shell", "-v", "0", "-c", code, timeout=timeout).stdout

    def sql(self, query: str, *params: Any) -> list[tuple]:
        """The rows of ``query`` on the SQLite file."""
        with sqlite3.connect(self.db, timeout=20) as db:
            return db.execute(query, params).fetchall()

    def runs(self, job_id: int) -> list[tuple[str, str]]:
        """Status and error of each run of job ``job_id``, in scheduled order."""
        return self.sql(
            "SELECT status, error FROM akjob_jobrun WHERE job_id = ? ORDER BY scheduled", job_id
        )

    def pid(self) -> int | None:
        """The pid in the pid file, if there is one."""
        try:
            return int(self.pid_file.read_text().strip() or 0) or None
        except (FileNotFoundError, ValueError):
            return None

    def kill_all(self) -> None:
        """SIGKILL every process still running from this project (test teardown)."""
        for pid in processes_with(str(self.base)):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def make_project(base: Path, database: Path | None = None) -> Project:
    """A project for tests of akjobd's process: akjob's default timings, akjobd's files in
    ``base/run`` and ``base/logs``; ``database``, a migrated SQLite file, is copied in."""
    project = Project(base, quick=False, pid_dir=base / "run", log_dir=base / "logs")
    if database is not None:
        shutil.copyfile(database, project.db)
    return project


def migrated_database(base: Path) -> Path:
    """Make a project under ``base`` and migrate its database; return the database file."""
    project = make_project(base)
    project.manage("migrate", "--no-input", timeout=120)
    return project.db


def wait_for(predicate: Callable[[], Any], *, timeout: float, what: str, every: float = 0.1) -> Any:
    """Poll ``predicate`` until it returns something truthy, and return that; fail after
    ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(every)


def alive(pid: int | None) -> bool:
    """Whether ``pid`` is a live process (a zombie counts as gone)."""
    if not pid:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] not in {"Z", "X"}


def processes_with(marker: str) -> list[int]:
    """Live processes (other than this one) whose command line or working directory contains
    ``marker``, leaving out the children of such processes."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            cwd = os.readlink(entry / "cwd")
        except OSError:
            continue
        if (marker in cmdline or cwd.startswith(marker)) and alive(int(entry.name)):
            found.append(int(entry.name))
    # A daemon's worker processes are its children: count the daemon, not its workers.
    return sorted(pid for pid in found if _parent(pid) not in found)


def _parent(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[1])
    except (OSError, IndexError, ValueError):
        return None
