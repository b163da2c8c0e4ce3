"""The versions measured: Python and each package, as installed in the peers' environment."""

from __future__ import annotations

import platform
from importlib.metadata import PackageNotFoundError, version

from bench.peers.common import emit

PACKAGES = [
    "akjob",
    "Django",
    "APScheduler",
    "SQLAlchemy",
    "cronsim",
    "croniter",
    "celery",
    "django-celery-beat",
    "django-q2",
]


def main() -> None:
    found = {"Python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    emit(found)


if __name__ == "__main__":
    main()
