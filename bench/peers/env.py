"""The peers' own virtualenv, ``bench/.venv-peers``: made once, reused while it is complete.

The peers are installed there and only there, never into the project's dependencies; akjob is
installed from this checkout, editable, so the figures are for the code in the working tree.
Standard library only: this runs in whatever Python runs ``bench/run.py``.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
VENV = REPO / "bench" / ".venv-peers"
MARKER = VENV / ".bench-complete"
PEERS = [
    "apscheduler>=3.10,<4",
    "SQLAlchemy>=2,<3",
    "cronsim>=2.6",
    "croniter>=2",
    "celery>=5.3,<6",
    "django-celery-beat>=2.6,<3",
    "django-q2>=1.6,<2",
    "matplotlib>=3.8",
]
AKJOB = f"{REPO}[postgres]"


def _expected() -> str:
    """What a complete environment was made from: the requirements, the Python, akjob's own
    metadata (a change of akjob's dependencies means reinstalling)."""
    pyproject = hashlib.sha256((REPO / "pyproject.toml").read_bytes()).hexdigest()
    return json.dumps(
        {"peers": PEERS, "akjob": AKJOB, "python": sys.version, "pyproject": pyproject}
    )


def python() -> Path:
    return VENV / "bin" / "python"


def ensure(log: Callable[[str], None] = print) -> Path:
    """The environment's python, after making the environment if it is missing or incomplete."""
    if python().exists() and MARKER.exists() and MARKER.read_text() == _expected():
        return python()
    log(f"making {VENV.relative_to(REPO)} (the peers and akjob; about a minute)")
    started = time.monotonic()
    shutil.rmtree(VENV, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    pip = [str(python()), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    subprocess.run([*pip, *PEERS, "-e", AKJOB], check=True)
    MARKER.write_text(_expected())
    log(f"{VENV.relative_to(REPO)} made in {time.monotonic() - started:.0f} s")
    return python()
