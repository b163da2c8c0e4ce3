"""The daemon's clock. Everything time-dependent in the daemon takes one, so tests move time.

The daemon never sleeps through the clock: it waits in ``select`` on its workers' pipes (woken by
a finished run or a stop request) for as long as ``Daemon.run_once`` says; tests call
``run_once(now)`` directly with a clock they move by hand (:class:`akjob.testing.FakeClock`).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """Aware UTC wall-clock time."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back."""


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()
