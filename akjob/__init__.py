"""akjob: a job scheduler for Django. Jobs live in the project's database; akjobd runs them."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["job_function", "scheduled"]


def __getattr__(name: str) -> Any:
    # Lazy, so that importing akjob (e.g. from settings) imports nothing of Django's.
    if name == "job_function":
        from akjob.registry import job_function

        return job_function
    if name == "scheduled":
        from akjob.declare import scheduled

        return scheduled
    raise AttributeError(f"module 'akjob' has no attribute {name!r}")
