"""The daemon's clock. Everything time-dependent in the daemon takes one, so tests move time."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """Aware UTC wall-clock time."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back."""

    def sleep(self, seconds: float, wake: threading.Event) -> bool:
        """Sleep up to ``seconds``; return True at once when ``wake`` is set."""


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float, wake: threading.Event) -> bool:
        return wake.wait(max(seconds, 0.0))
