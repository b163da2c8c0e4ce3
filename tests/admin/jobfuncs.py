"""Job functions for the admin tests: one registered by the decorator, one by the setting."""

from __future__ import annotations

import os
from pathlib import Path

import akjob

OUTPUT = "AKJOB_TEST_ADMIN_OUTPUT"


@akjob.job_function(name="Send the report")
def send_report(to: str, copies: int = 1) -> None:
    """Appends a line to the file named by $AKJOB_TEST_ADMIN_OUTPUT (when set)."""
    target = os.environ.get(OUTPUT)
    if target:
        with open(target, "a") as out:
            out.write(f"report to {to} x{copies}\n")


def cleanup() -> None:
    """Listed in AKJOB_JOB_FUNCTIONS by the tests, not decorated."""


class Canary:
    """A pickle payload: unpickling it writes a file, the proof that something unpickled it."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (Path.write_text, (Path(self.path), "unpickled!"))


@akjob.job_function
def fail_loudly(what: str) -> None:
    raise RuntimeError(f"the report server refused {what!r}")
