"""Job code for the benchmarks: records when it started."""

from __future__ import annotations

import os
import time


class Stamp:
    """Appends "<scheduled> <started>" (epochs) to a file; the job's name is its scheduled time."""

    def __init__(self, path: str) -> None:
        self.path = path

    def run(self, ownjob) -> None:
        started = time.time()
        line = f"{ownjob.name} {started:.6f}\n".encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)
