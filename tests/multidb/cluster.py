"""Several real ``akjobd run`` processes against one PostgreSQL or MariaDB database, and the
checks that every occurrence ran once among them.

The truth comes from three places that must agree: the lines the job code appends to a file
(what really ran), the ``JobRun`` rows (what the daemons recorded) and each job's ``_run_count``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.acceptance.project import REPO, Project, alive, wait_for
from tests.multidb.jobs import Line, read_lines
from tests.multidb.servers import Database

# Short leases so that a dead or stopped daemon is found out within seconds.
SETTINGS = """
AKJOB_HEARTBEAT = 1
AKJOB_LEASE = 3
AKJOB_POLL = 0.5
AKJOB_MAX_WORKERS = {workers}
AKJOB_RUNS_KEPT = 1000
LOGGING = {{
    "version": 1,
    "disable_existing_loggers": False,
    "loggers": {{"akjob": {{"level": "WARNING"}}}},
}}
"""

COUNTED = {"succeeded", "failed", "timed out", "interrupted"}  # statuses that count as a run
EXECUTED = {"succeeded", "failed", "timed out"}  # the code ran and its daemon said how it went

CREATE = """
from datetime import datetime, timedelta, UTC
from django.db import transaction
from akjob.models import Job
from tests.multidb.jobs import Record
first = datetime.fromtimestamp({first}, UTC)
every = timedelta(seconds={every})
code = Record({path!r}, sleep={sleep}, query={query})
ids = []
with transaction.atomic():
    for i in range({count}):
        # The grid: first + (i % spread) s, then every `every` seconds.
        anchor = first - every + timedelta(seconds=i % {spread})
        job = Job(name="{prefix}%d" % i, run_every=every, _last_interval=anchor)
        job.job_code_object = code
        job.save()
        ids.append(job.pk)
print(" ".join(map(str, ids)))
"""


@dataclass
class Jobs:
    """Jobs created for a test: each one's first occurrence and interval (seconds)."""

    first: dict[int, datetime] = field(default_factory=dict)
    every: dict[int, int] = field(default_factory=dict)

    def __add__(self, other: Jobs) -> Jobs:
        return Jobs(self.first | other.first, self.every | other.every)


@dataclass(frozen=True)
class Row:
    id: int
    job: int
    scheduled: datetime
    status: str
    missed: int
    daemon: int | None
    started: datetime | None
    finished: datetime | None
    lease_until: datetime | None
    error: str


@dataclass
class Report:
    rows: list[Row]
    lines: list[Line]
    per_daemon: Counter
    coalesced: int

    @property
    def runs(self) -> int:
        return sum(1 for r in self.rows if r.status in COUNTED)


class Cluster:
    """``size`` daemons of one project, each with its own pid and log directory."""

    def __init__(self, project: Project, db: Database, size: int = 3) -> None:
        self.project, self.db, self.size = project, db, size
        self.procs: list[subprocess.Popen] = []
        self.record = project.base / "runs.txt"

    def home(self, i: int) -> Path:
        return self.project.base / f"daemon{i}"

    # -- jobs -------------------------------------------------------------------------------

    def create_jobs(
        self,
        count: int,
        *,
        every: int = 2,
        first: float,
        spread: int = 2,
        sleep: float = 0.0,
        query: bool = False,
        prefix: str = "job",
    ) -> Jobs:
        if not count:
            return Jobs()
        out = self.project.shell(
            CREATE.format(
                first=int(first),
                every=every,
                path=str(self.record),
                sleep=sleep,
                query=query,
                count=count,
                spread=spread,
                prefix=prefix,
            )
        )
        ids = [int(x) for x in out.split()]
        jobs = Jobs()
        placeholders = ", ".join(["%s"] * len(ids))
        for pk, nxt in self.db.query(
            f"SELECT id, _next_run FROM akjob_job WHERE id IN ({placeholders})", *ids
        ):
            jobs.first[pk] = nxt
            jobs.every[pk] = every
        assert len(jobs.first) == count
        return jobs

    # -- daemons ----------------------------------------------------------------------------

    def start(self) -> None:
        for i in range(self.size):
            home = self.home(i)
            home.mkdir(exist_ok=True)
            out = open(home / "out.txt", "wb")  # noqa: SIM115 - the daemon keeps it
            self.procs.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        str(REPO / "manage.py"),
                        "akjobd",
                        "run",
                        "-pd",
                        str(home / "run"),
                        "-ld",
                        str(home / "logs"),
                    ],
                    cwd=self.project.base,
                    env=self.project.env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            )
            out.close()
        pids = {p.pid for p in self.procs}
        wait_for(
            lambda: pids <= set(self.daemon_ids()),
            timeout=30,
            what="every akjobd to register",
            every=0.2,
        )

    def pid(self, i: int) -> int:
        return self.procs[i].pid

    def daemon_ids(self) -> dict[int, int]:
        """pid -> DaemonRecord id of the daemons that registered."""
        return {pid: pk for pk, pid in self.db.query("SELECT id, pid FROM akjob_daemonrecord")}

    def output(self, i: int) -> str:
        return (self.home(i) / "out.txt").read_text(errors="replace")

    def signal(self, i: int, sig: int) -> None:
        os.kill(self.pid(i), sig)

    def stop(self, timeout: float = 30) -> None:
        """SIGTERM the daemons still running and wait for them (a graceful stop)."""
        live = [p for p in self.procs if p.poll() is None]
        for p in live:
            p.send_signal(signal.SIGCONT)
            p.send_signal(signal.SIGTERM)
        for p in live:
            p.wait(timeout)
            assert p.returncode == 0, f"akjobd {p.pid} exited with {p.returncode}"

    def kill_all(self) -> None:
        """Test teardown: SIGKILL the daemons and any worker process of theirs still alive."""
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait(10)
        marker = str(self.project.base)
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if marker in cmdline and alive(int(entry.name)):
                try:
                    os.kill(int(entry.name), signal.SIGKILL)
                except ProcessLookupError:
                    pass

    # -- what happened ------------------------------------------------------------------------

    def rows(self) -> list[Row]:
        return [
            Row(*r)
            for r in self.db.query(
                "SELECT id, job_id, scheduled, status, missed_count, daemon_id, started, "
                "finished, lease_until, error FROM akjob_jobrun ORDER BY job_id, scheduled"
            )
        ]

    def runs_of(self, daemon_pid: int, *, status: str | None = None) -> list[Row]:
        daemon = self.daemon_ids()[daemon_pid]
        return [r for r in self.rows() if r.daemon == daemon and status in (None, r.status)]

    def verify(self, jobs: Jobs) -> Report:
        """Check that every occurrence ran at most once, was recorded once, and that none was
        lost beyond coalescing; return what happened for further checks."""
        rows = self.rows()
        lines = read_lines(self.record)
        assert not [r for r in rows if r.status == "running"], "runs left running"

        ran = Counter((line.job, line.scheduled) for line in lines)
        twice = [k for k, n in ran.items() if n > 1]
        assert not twice, f"occurrences that ran more than once: {twice[:10]}"

        by_occurrence = {(r.job, int(r.scheduled.timestamp())): r for r in rows}
        assert len(by_occurrence) == len(rows)
        for line in lines:
            row = by_occurrence.get((line.job, line.scheduled))
            assert row is not None, f"{line} ran without a run record"
            assert row.status in COUNTED, f"{line} ran, but its record says {row.status}"
            if row.status == "interrupted":
                # A run declared dead may have run on; it must not have started after that.
                assert line.started <= row.finished.timestamp() + 0.01, (line, row)
        for row in rows:
            if row.status in EXECUTED:
                assert ran[(row.job, int(row.scheduled.timestamp()))] == 1, f"{row} never ran"

        counts = dict(self.db.query("SELECT id, _run_count FROM akjob_job"))
        next_runs = dict(self.db.query("SELECT id, _next_run FROM akjob_job"))
        for job, first in jobs.first.items():
            every = timedelta(seconds=jobs.every[job])
            mine = [r for r in rows if r.job == job]
            assert counts[job] == sum(1 for r in mine if r.status in COUNTED), (
                f"job {job}: _run_count {counts[job]} but records {[r.status for r in mine]}"
            )
            expected = first
            for r in mine:  # each record covers its occurrence and those coalesced into it
                assert r.scheduled == expected, f"job {job}: expected {expected}, found {r}"
                covered = r.missed + 1 if r.status in COUNTED else max(r.missed, 1)
                expected = r.scheduled + covered * every
            assert next_runs[job] == expected, f"job {job}: next run {next_runs[job]}"

        pids = {pk: pid for pid, pk in self.daemon_ids().items()}
        per_daemon = Counter(pids.get(r.daemon) for r in rows if r.status in COUNTED)
        coalesced = sum(r.missed for r in rows if r.status in COUNTED)
        return Report(rows, lines, per_daemon, coalesced)


def sleep_until(epoch: float) -> None:
    """Let the daemons work until the wall clock reaches ``epoch`` (the test's own schedule,
    not a synchronisation: every check after it polls the database with a deadline)."""
    time.sleep(max(epoch - time.time(), 0.0))


def utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)
