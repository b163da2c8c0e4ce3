"""A clean slate of declarations for a test: those made before are set aside, and those the
test makes are gone after it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from akjob import declare, registry


@contextmanager
def no_declarations() -> Iterator[None]:
    saved, functions = list(declare._declared), dict(registry._decorated)
    declare._declared.clear()
    try:
        yield
    finally:
        declare._declared[:] = saved
        registry._decorated.clear()
        registry._decorated.update(functions)
