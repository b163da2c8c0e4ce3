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


class Ticker:
    """The job's own record of its run: "S <run id> <time>" at its start; then a child process
    of its own appends "T <run id> <time>" every 50 ms for ``seconds`` (the run's work, done
    in a grandchild of akjobd), and "E <run id> <time>" once the work is done."""

    def __init__(self, path: str, seconds: float) -> None:
        self.path, self.seconds = path, seconds

    def _say(self, what: str, run_id: int) -> None:
        with open(self.path, "a") as f:
            f.write(f"{what} {run_id} {time.time():.6f}\n")

    def run(self, ownjob):
        from akjob.context import current_run

        run_id = current_run().run_id
        self._say("S", run_id)
        child = os.fork()
        if child == 0:
            end = time.monotonic() + self.seconds
            while time.monotonic() < end:
                self._say("T", run_id)
                time.sleep(0.05)
            os._exit(0)
        os.waitpid(child, 0)
        self._say("E", run_id)


def ticker_runs(path: str | Path) -> dict[int, dict[str, list[float]]]:
    """What Ticker wrote, by run id: the times of its S, T and E lines."""
    runs: dict[int, dict[str, list[float]]] = {}
    p = Path(path)
    for line in p.read_text().splitlines() if p.exists() else []:
        kind, run_id, at = line.split()
        runs.setdefault(int(run_id), {"S": [], "T": [], "E": []})[kind].append(float(at))
    return runs


class LeaveChild:
    """Leaves a child behind that sleeps for an hour; appends the child's pid to ``path``."""

    def __init__(self, path: str) -> None:
        self.path = path

    def run(self, ownjob):
        pid = os.fork()
        if pid == 0:
            time.sleep(3600)
            os._exit(0)
        with open(self.path, "a") as f:
            f.write(f"{pid}\n")


class LeavePopen:
    """Starts ``sleep 3600`` and returns without waiting for it; appends its pid to ``path``."""

    def __init__(self, path: str) -> None:
        self.path = path

    def run(self, ownjob):
        import subprocess

        child = subprocess.Popen(["sleep", "3600"])
        with open(self.path, "a") as f:
            f.write(f"{child.pid}\n")


class LeavePool:
    """Makes a multiprocessing pool, uses it, and never closes it."""

    def run(self, ownjob):
        import multiprocessing

        pool = multiprocessing.get_context("fork").Pool(2)
        assert pool.apply(abs, (-3,)) == 3
        ownjob._pool = pool  # kept alive past the run's end


class ForkAndReturn:
    """Forks; both processes return from the job's code."""

    def run(self, ownjob):
        os.fork()


class ForkExitHard:
    """Forks a child that exits at once with os._exit; the run itself succeeds."""

    def run(self, ownjob):
        if os.fork() == 0:
            os._exit(3)


log = logging.getLogger(__name__)


class LogsItself:
    """Logs through its own module's logger, as Django code does, and prints."""

    def run(self, ownjob):
        log.info("info from job code")
        log.warning("warning from job code")
        print("printed by job code", flush=True)


class Gate:
    """Appends "started" to ``path``, waits (at most 120 s) until the file ``gate`` exists, then
    appends "ended": a run that lasts exactly as long as a test wants."""

    def __init__(self, path: str, gate: str) -> None:
        self.path, self.gate = path, gate

    def run(self, ownjob):
        with open(self.path, "a") as f:
            f.write("started\n")
        deadline = time.monotonic() + 120
        while not os.path.exists(self.gate) and time.monotonic() < deadline:
            time.sleep(0.05)
        with open(self.path, "a") as f:
            f.write("ended\n")


class Occurrence:
    """Appends "<scheduled> <run id> <pid> <start> <attempt>" for each run (epoch seconds): which
    occurrence the run was told it is, by ``current_run()``; then sleeps ``sleep`` seconds."""

    def __init__(self, path: str, sleep: float = 0.0) -> None:
        self.path, self.sleep = path, sleep

    def run(self, ownjob):
        from akjob.context import current_run

        run = current_run()
        attempt = getattr(run, "attempt", 1)
        line = f"{run.scheduled.timestamp():.0f} {run.run_id} {os.getpid()} {time.time():.6f}"
        with open(self.path, "a") as f:
            f.write(f"{line} {attempt}\n")
        if self.sleep:
            time.sleep(self.sleep)


def occurrences(path: str | Path) -> list[tuple[int, int, int, float, int]]:
    """What Occurrence wrote: (scheduled, run id, pid, start, attempt) per run, in order."""
    p = Path(path)
    rows = []
    for line in p.read_text().splitlines() if p.exists() else []:
        scheduled, run_id, pid, start, attempt = line.split()
        rows.append((int(scheduled), int(run_id), int(pid), float(start), int(attempt)))
    return rows


class Span:
    """Appends "start <scheduled> <attempt> <pid> <time>" as each run starts and "end ..." as it
    ends, after ``sleep`` seconds or when akjobd stops it (SIGTERM; a SIGKILL leaves no end);
    attempts before ``succeed_at`` fail after writing their end (with ``hard``, by ``os._exit``)."""

    def __init__(
        self, path: str, sleep: float = 0.0, succeed_at: int = 1, hard: bool = False
    ) -> None:
        self.path, self.sleep, self.succeed_at, self.hard = path, sleep, succeed_at, hard

    def _write(self, what: str) -> None:
        from akjob.context import current_run

        run = current_run()
        line = (
            f"{what} {run.scheduled.timestamp():.0f} {run.attempt} {os.getpid()} {time.time():.6f}"
        )
        with open(self.path, "a") as f:
            f.write(line + "\n")

    def run(self, ownjob):
        import signal

        def stopped(signum, frame):  # akjobd stops the run: its end is now
            self._write("end")
            raise SystemExit(1)

        signal.signal(signal.SIGTERM, stopped)
        self._write("start")
        time.sleep(self.sleep)
        self._write("end")
        if self._attempt() < self.succeed_at:
            if self.hard:  # the process leaves at once: no outcome is reported
                os._exit(1)
            raise RuntimeError("this attempt fails on purpose")

    @staticmethod
    def _attempt() -> int:
        from akjob.context import current_run

        return current_run().attempt


def spans(path: str | Path) -> list[tuple[str, int, int, int, float]]:
    """What Span wrote: (start or end, scheduled, attempt, pid, time), in order."""
    p = Path(path)
    rows = []
    for line in p.read_text().splitlines() if p.exists() else []:
        what, scheduled, attempt, pid, at = line.split()
        rows.append((what, int(scheduled), int(attempt), int(pid), float(at)))
    return rows
