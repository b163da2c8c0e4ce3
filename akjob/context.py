"""Which run is executing: what a job's code can ask about its own occurrence.

While akjobd runs a job's code, :func:`current_run` returns the run record's id, the job's id and
the occurrence (the scheduled time, aware UTC). Outside a run it returns None.

    from akjob.context import current_run

    class Report:
        def run(self, ownjob):
            build_report(day=current_run().scheduled.date())
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime

__all__ = ["RunInfo", "current_run", "running"]


@dataclass(frozen=True)
class RunInfo:
    """The run in progress: its ``JobRun`` id (None when run outside akjobd's records), its
    job's id, its occurrence and its attempt (1, then 2 for the first retry: docs/guarantees.md,
    "Retries")."""

    run_id: int | None
    job_id: int
    scheduled: datetime | None
    attempt: int = 1


_current: ContextVar[RunInfo | None] = ContextVar("akjob_current_run", default=None)


def current_run() -> RunInfo | None:
    """The run whose code is executing in this process, or None."""
    return _current.get()


@contextmanager
def running(info: RunInfo) -> Iterator[RunInfo]:
    """Make ``info`` the current run for the code executed inside."""
    token = _current.set(info)
    try:
        yield info
    finally:
        _current.reset(token)
