"""Job code for the multi-daemon tests; akjobd imports it (the repository is on its path)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from akjob.context import current_run


class Record:
    """Appends one line per run to a file (one ``write`` with O_APPEND, so lines from many
    processes never mix): job id, occurrence and start (epoch seconds), and the pid of the
    daemon whose worker ran it. Optionally uses the worker's database connection, then sleeps."""

    def __init__(self, path: str, *, sleep: float = 0.0, query: bool = False) -> None:
        self.path, self.sleep, self.query = path, sleep, query

    def run(self, ownjob):
        run = current_run()
        line = f"{ownjob.pk} {run.scheduled.timestamp():.0f} {time.time():.6f} {os.getppid()}\n"
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)
        if self.query:
            type(ownjob).objects.filter(pk=ownjob.pk).exists()
        if self.sleep:
            time.sleep(self.sleep)


@dataclass(frozen=True)
class Line:
    job: int
    scheduled: int
    started: float
    daemon_pid: int


def read_lines(path: str | Path) -> list[Line]:
    p = Path(path)
    if not p.exists():
        return []
    out = []
    for text in p.read_text().splitlines():
        job, scheduled, started, pid = text.split()
        out.append(Line(int(job), int(scheduled), float(started), int(pid)))
    return out
