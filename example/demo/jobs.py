"""Job code used by the demo: importable, so it pickles and akjobd can load it."""

from __future__ import annotations

from datetime import UTC, datetime


def hello(who: str) -> None:
    print(f"{datetime.now(UTC):%H:%M:%S} hello, {who}", flush=True)


class Countdown:
    """Counts down, renaming its job each run, and deletes the job at zero."""

    def __init__(self, start: int) -> None:
        self.left = start

    def run(self, ownjob) -> None:
        self.left -= 1
        ownjob.name = f"countdown: {self.left} left"
        print(f"{datetime.now(UTC):%H:%M:%S} {ownjob.name}", flush=True)
        if self.left <= 0:
            ownjob.deleteme = True


def fail() -> None:
    raise RuntimeError("this demo job fails on purpose; see `akjobd history`")
