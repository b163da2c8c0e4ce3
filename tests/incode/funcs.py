"""Functions the tests of schedules in code declare (in each test, never at import: a
declaration made here would stay for every later test)."""

from __future__ import annotations


def report(kind: str, *, to: str = "ops") -> str:
    return f"{kind} report to {to}"


def poll() -> None:
    return None


def cleanup() -> None:
    return None


NOT_CALLABLE = 3
