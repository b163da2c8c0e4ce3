"""A throw-away Django project in a temporary directory, for tests that run ``manage.py`` as real
processes: its own settings module, its own SQLite file, akjob's files under the directory."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SETTINGS_MODULE = "project_settings"

SETTINGS = """\
from pathlib import Path

from tests.settings import *  # noqa: F403

BASE_DIR = Path(__file__).resolve().parent
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(BASE_DIR / "db.sqlite3"),
        "OPTIONS": {"timeout": 20},
    }
}
AKJOB_STOP_GRACE = 5
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
"""

MANAGE = """\
import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project_settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
"""


def wait_until(predicate: Callable[[], object], timeout: float = 20.0, what: str = "") -> None:
    """Poll ``predicate`` until it is true; fail the test when ``timeout`` passes first."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or predicate}")
        time.sleep(0.02)


def alive(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie counts as gone)."""
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


@dataclass
class Project:
    root: Path

    @property
    def db(self) -> Path:
        return self.root / "db.sqlite3"

    @property
    def pid_dir(self) -> Path:
        return self.root / "run"

    @property
    def log_dir(self) -> Path:
        return self.root / "logs"

    @property
    def pid_file(self) -> Path:
        return self.pid_dir / "akjobd.pid"

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AKJOB_", "PYTEST_"))}
        env.update(
            PYTHONPATH=os.pathsep.join([str(self.root), str(REPO)]),
            DJANGO_SETTINGS_MODULE=SETTINGS_MODULE,
            AKJOB_START_DAEMON="False",
            PYTHONDONTWRITEBYTECODE="1",
        )
        env.update(extra)
        return env

    def command(self, *args: str) -> list[str]:
        return [sys.executable, str(self.root / "manage.py"), *args]

    def manage(self, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(*args),
            cwd=self.root,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def akjobd_args(self, action: str, pid_dir: Path | None = None) -> list[str]:
        return ["akjobd", action, "-pd", str(pid_dir or self.pid_dir), "-ld", str(self.log_dir)]

    def akjobd(self, action: str, pid_dir: Path | None = None) -> subprocess.CompletedProcess[str]:
        return self.manage(*self.akjobd_args(action, pid_dir))

    def popen(self, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.command(*args),
            cwd=self.root,
            env=env or self.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def kill_all(self) -> None:
        """SIGKILL every process still running from this project (test teardown)."""
        for pid in processes_with(str(self.root)):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def make_project(root: Path, database: Path | None = None) -> Project:
    """Write the project's files under ``root``; copy ``database`` (a migrated SQLite file)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / f"{SETTINGS_MODULE}.py").write_text(SETTINGS)
    (root / "manage.py").write_text(MANAGE)
    project = Project(root)
    if database is not None:
        shutil.copyfile(database, project.db)
    return project


def migrated_database(root: Path) -> Path:
    """Create a project under ``root`` and migrate its database; return the database file."""
    project = make_project(root)
    result = project.manage("migrate", "--no-input", timeout=120)
    assert result.returncode == 0, result.stderr
    return project.db
