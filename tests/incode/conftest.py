"""Fixtures of the tests of schedules in code: a clean slate of declarations per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.incode import isolation


@pytest.fixture(autouse=True)
def no_declarations() -> Iterator[None]:
    """Each test declares its own schedules; those of the tests before are gone."""
    with isolation.no_declarations():
        yield
