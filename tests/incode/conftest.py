"""Fixtures of the tests of schedules in code: a clean slate of declarations per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from akjob import declare, registry


@pytest.fixture(autouse=True)
def no_declarations() -> Iterator[None]:
    """Each test declares its own schedules; those of the tests before are gone."""
    saved, functions = list(declare._declared), dict(registry._decorated)
    declare._declared.clear()
    try:
        yield
    finally:
        declare._declared[:] = saved
        registry._decorated.clear()
        registry._decorated.update(functions)
