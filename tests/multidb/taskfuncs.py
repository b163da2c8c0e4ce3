"""Tasks that real task workers run for the hand-off tests: each records its result id and the
time it ran, so the test can match it with akjob's run record."""

from __future__ import annotations

import os
import time

from tests.taskfuncs import task


@task(takes_context=True)
def stamp(context, path: str) -> str:
    line = f"{context.task_result.id} {time.time():.6f}\n"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)
    return context.task_result.id


@task()
def fail(label: str) -> None:
    raise RuntimeError(f"failing task {label}")
