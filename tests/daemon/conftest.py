"""Fixtures of the daemon tests."""

from __future__ import annotations

import pytest

from akjob.testing import FakeClock
from tests.daemon.steps import T0


@pytest.fixture
def clock(time_machine):
    """A clock moved by hand, starting at T0 (the test process's clock is frozen there too)."""
    time_machine.move_to(T0, tick=False)
    return FakeClock(T0)
