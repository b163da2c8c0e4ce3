"""Job code for the acceptance tests. akjobd imports it (the repository is on its path)."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from akjob.akjob_logger import AkjobLogging


class JobTest:
    """The original README's example: change the name of the job 5 times then delete the job."""

    logger = AkjobLogging(
        name="JobTest",
        logfilename="akjob.job.log",
        format_str=AkjobLogging.multiline_format_str,
    ).get_logger()

    def __init__(self):
        self.count = 0

    def run(self, ownjob):
        if self.count > 4:
            self.logger.info("Scheduling job to be deleted: " + ownjob.name)
            ownjob.deleteme = True
            ownjob.save()
            return
        self.count += 1
        self.logger.info("Working with job named " + ownjob.name)
        self.logger.info("Changing the name to " + ownjob.name + str(self.count))
        ownjob.name += str(self.count)
        ownjob.save()


class Mark:
    """Appends the wall-clock time of each start to a file."""

    def __init__(self, path: str, sleep: float = 0.0) -> None:
        self.path, self.sleep = path, sleep

    def run(self, ownjob):
        with open(self.path, "a") as f:
            f.write(f"{time.time():.6f}\n")
        if self.sleep:
            time.sleep(self.sleep)


class Raise:
    def run(self, ownjob):
        raise ValueError("acceptance failure")


class HardExit:
    def run(self, ownjob):
        os._exit(7)


class Hang:
    def run(self, ownjob):
        time.sleep(3600)


def marker_lines(path: str | Path) -> list[float]:
    p = Path(path)
    return [float(x) for x in p.read_text().split()] if p.exists() else []


log = logging.getLogger(__name__)


class LogsItself:
    """Logs through its own module's logger, as Django code does, and prints."""

    def run(self, ownjob):
        log.info("info from job code")
        log.warning("warning from job code")
        print("printed by job code", flush=True)
