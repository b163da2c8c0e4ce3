"""Job code objects used by the daemon tests (importable, so they pickle)."""

from __future__ import annotations

import os


class Counter:
    def __init__(self) -> None:
        self.count = 0

    def run(self, ownjob):
        self.count += 1


class Boom:
    def run(self, ownjob):
        raise RuntimeError("boom from the job")


class Rename:
    def run(self, ownjob):
        ownjob.name += "!"


class DeleteSelf:
    def run(self, ownjob):
        ownjob.delete()


class DeleteMe:
    def run(self, ownjob):
        ownjob.deleteme = True


class Exit:
    def run(self, ownjob):
        raise SystemExit(3)


class HardExit:
    def run(self, ownjob):
        os._exit(1)


class WhoAmI:
    """Keeps what ``akjob.context.current_run()`` said (saved back with the code object)."""

    def __init__(self) -> None:
        self.seen = None

    def run(self, ownjob):
        from akjob.context import current_run

        self.seen = current_run()
