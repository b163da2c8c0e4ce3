"""A fresh install, as the README tells a newcomer: build the wheel, install it into a new
virtualenv, start a new Django project with akjob, run a job with akjobd, stop it.

Nothing of this repository is on the new environment's path: the project imports akjob from the
installed wheel. The wheels of akjob's dependencies are kept in a wheelhouse
(``AKJOB_WHEELHOUSE``, default ``~/.cache/akjob/wheelhouse``) and pip's own cache is used, so only
the first run downloads anything. Without access to the package index that first run is skipped,
unless AKJOB_REQUIRE_SERVICES=1. Select it with ``-m fresh_install``; it takes about a minute.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.acceptance.project import processes_with, wait_for

pytestmark = [pytest.mark.fresh_install, pytest.mark.acceptance]

REPO = Path(__file__).resolve().parents[1]
REQUIRE = os.environ.get("AKJOB_REQUIRE_SERVICES") == "1"
SOURCES = ("akjob", "docs", "pyproject.toml", "setup.py", "README.md", "LICENSE", "MANIFEST.in")
SOURCES += ("CHANGELOG.md",)
# What pip and build say when the package index cannot be reached.
OFFLINE = (
    "No matching distribution found",
    "Could not find a version that satisfies",
    "NewConnectionError",
    "Max retries exceeded",
    "Temporary failure in name resolution",
    "Network is unreachable",
)
MAKE_JOB = """
from datetime import timedelta
from akjob.models import Job, JobCallable
job = Job(name="fresh", run_every=timedelta(seconds=1), run_count_limit=1)
job.job_code_object = JobCallable(print, "fresh-install-ok", flush=True)
job.save()
print(job.pk)
"""


def wheelhouse() -> Path:
    path = Path(os.environ.get("AKJOB_WHEELHOUSE") or Path.home() / ".cache/akjob/wheelhouse")
    path.mkdir(parents=True, exist_ok=True)
    return path


class Steps:
    """Runs the steps in a clean environment and times each one."""

    def __init__(self, site: Path) -> None:
        self.site = site
        self.times: dict[str, float] = {}
        drop = ("PYTHONPATH", "DJANGO_SETTINGS_MODULE", "VIRTUAL_ENV", "PYTHONHOME")
        self.env = {
            k: v
            for k, v in os.environ.items()
            if k not in drop and not k.startswith(("AKJOB_", "PYTEST_"))
        }
        self.env["AKJOB_START_DAEMON"] = "False"  # this test starts akjobd itself

    def run(self, what: str, *args: str | Path, cwd: Path | None = None, timeout: float = 300):
        started = time.monotonic()
        result = subprocess.run(
            [str(a) for a in args],
            cwd=cwd or self.site,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        self.times[what] = self.times.get(what, 0.0) + time.monotonic() - started
        return result

    def must(self, what: str, *args: str | Path, cwd: Path | None = None, timeout: float = 300):
        result = self.run(what, *args, cwd=cwd, timeout=timeout)
        if result.returncode != 0:
            output = result.stdout + result.stderr
            offline = [line for line in output.splitlines() if any(w in line for w in OFFLINE)]
            if offline and not REQUIRE:
                pytest.skip(f"{what}: the package index cannot be reached ({offline[0].strip()})")
            raise AssertionError(f"{what} failed ({result.returncode}):\n{output}")
        return result


def build_wheel(steps: Steps, tmp: Path) -> Path:
    """The wheel of this checkout, built from a copy of its sources (nothing is written here)."""
    src = tmp / "src"
    for name in SOURCES:
        origin = REPO / name
        if origin.is_dir():
            shutil.copytree(origin, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(origin, src / name)
    steps.must("build the wheel", sys.executable, "-m", "build", "--wheel", "--outdir",
               tmp / "dist", src, cwd=tmp)  # fmt: skip
    (wheel,) = (tmp / "dist").glob("akjob-*.whl")
    return wheel


def install(steps: Steps, venv: Path, wheel: Path) -> None:
    """pip install the wheel, its dependencies from the wheelhouse (filled once, from PyPI)."""
    pip = [venv / "bin/python", "-m", "pip", "install", "-q", "--no-index"]
    offline = [*pip, "--find-links", wheelhouse(), wheel]
    if steps.run("pip install", *offline).returncode == 0:
        return
    download = [venv / "bin/python", "-m", "pip", "download", "-q", "-d", wheelhouse(), wheel]
    steps.must("pip download (once)", *download)
    for stray in wheelhouse().glob("akjob-*.whl"):
        stray.unlink()  # the wheelhouse keeps dependencies only
    steps.must("pip install", *offline)


def test_a_fresh_install_runs_a_job(tmp_path: Path) -> None:
    if importlib.util.find_spec("build") is None:
        if REQUIRE:
            pytest.fail("the fresh install needs the 'build' package (pip install build)")
        pytest.skip("the fresh install needs the 'build' package (pip install build)")
    site = tmp_path / "site"
    site.mkdir()
    steps = Steps(site)
    wheel = build_wheel(steps, tmp_path)
    venv = tmp_path / "venv"
    steps.must("make the virtualenv", sys.executable, "-m", "venv", venv)
    install(steps, venv, wheel)
    python = venv / "bin/python"
    where = steps.must("import akjob", python, "-c", "import akjob; print(akjob.__file__)")
    assert where.stdout.strip().startswith(str(venv)), where.stdout  # the wheel, not this checkout

    steps.must("startproject", venv / "bin/django-admin", "startproject", "mysite", site)
    settings = site / "mysite" / "settings.py"
    text = settings.read_text()
    settings.write_text(text.replace("INSTALLED_APPS = [", 'INSTALLED_APPS = [\n    "akjob",', 1))
    manage = [python, site / "manage.py"]
    steps.must("migrate", *manage, "migrate", "--no-input")
    job_id = int(steps.must("make a job", *manage, "shell", "-c", MAKE_JOB).stdout.split()[-1])
    try:
        started = steps.must("akjobd start", *manage, "akjobd", "start")
        assert started.stdout.startswith("akjobd started (pid "), started.stdout
        status = steps.must("akjobd status", *manage, "akjobd", "status")
        assert status.stdout.startswith("akjobd is running"), status.stdout
        t0 = time.monotonic()
        wait_for(lambda: runs(site / "db.sqlite3", job_id) == ["succeeded"], timeout=60,
                 what="the job's run")  # fmt: skip
        steps.times["the run"] = time.monotonic() - t0
        assert "fresh-install-ok" in (site / "akjob/logs/akjobd.out").read_text()
        stopped = steps.must("akjobd stop", *manage, "akjobd", "stop")
        assert stopped.stdout.startswith("akjobd stopped"), stopped.stdout
    finally:
        for pid in processes_with(str(site)):
            os.kill(pid, 9)
    report = ", ".join(f"{what} {seconds:.1f} s" for what, seconds in steps.times.items())
    print(f"fresh install: {sum(steps.times.values()):.1f} s: {report}")


def runs(database: Path, job_id: int) -> list[str]:
    with sqlite3.connect(database, timeout=20) as db:
        rows = db.execute("SELECT status FROM akjob_jobrun WHERE job_id = ?", (job_id,))
        return [status for (status,) in rows]
