"""Running claimed occurrences in worker processes.

Workers are forked from the daemon after it closed its database connections, so they never share
a socket. A worker treats each run as Django treats a request: before and after it, connections
that broke (the database server restarted) or outlived ``CONN_MAX_AGE`` are closed, so the next
query connects afresh. For each run a worker loads the job, verifies and unpickles its code
object, calls ``run(ownjob=job)``, saves back what the code changed (the code object's own state
included) or deletes the job when asked to, and writes its outcome to a pipe. Whatever the code
does — raise, hang, call ``os._exit``, crash the interpreter — the daemon learns it from the
pipe, the exit status or its own timeout, and goes on.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import signal
import sys
import time
import traceback
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.db import DatabaseError, close_old_connections, connections

from akjob.context import RunInfo, running
from akjob.daemon.claim import Claimed
from akjob.exceptions import JobCodeError
from akjob.models import Job, JobRun

log = logging.getLogger("akjob.job")
Status = JobRun.Status
ERROR_TAIL = 8000


def load(job: Job | int) -> tuple[Job, Any] | tuple[None, tuple[str, str]]:
    """The job (given, or loaded by id) and its verified code object, or
    (None, (status, error)) when it cannot run."""
    if not isinstance(job, Job):
        try:
            job = Job.objects.filter(pk=job).first()
        except DatabaseError as exc:
            return None, (Status.FAILED, f"the job could not be loaded: {exc}")
    if job is None:
        return None, (Status.FAILED, "the job was deleted before its run started")
    try:
        code = job.job_code_object
    except JobCodeError as exc:
        return None, (Status.FAILED, f"job code object refused: {exc}")
    if code is None:
        return None, (Status.FAILED, "the job has no job_code_object")
    return job, code


def run_code(
    job: Job | int,
    *,
    not_before: float | None = None,
    start_by: float | None = None,
    run_id: int | None = None,
    scheduled: datetime | None = None,
) -> tuple[str, str]:
    """Run a job's code object in this process; return (status, error text).

    The job is loaded first; the code starts no earlier than ``not_before`` and, when it is
    given, no later than ``start_by`` (epoch seconds; past it the run is not started and is
    reported interrupted). The code sees its run (``run_id``, ``scheduled``) through
    :func:`akjob.context.current_run`.
    """
    job, code = load(job)
    if job is None:
        return code
    if not_before is not None:
        time.sleep(max(not_before - time.time(), 0.0))
    if start_by is not None and time.time() > start_by:
        return Status.INTERRUPTED, (
            "not started: its lease ran out before it could start (akjobd was paused or too "
            "busy to renew it), so another daemon may have declared it dead"
        )
    status, error = Status.SUCCEEDED, ""
    try:
        with running(RunInfo(run_id, job.pk, scheduled)):
            code.run(ownjob=job)
    except BaseException:  # noqa: BLE001 - SystemExit and KeyboardInterrupt are job failures too
        status, error = Status.FAILED, traceback.format_exc()[-ERROR_TAIL:]
        log.exception("job %s (%s) failed", job.pk, job.name)
    try:
        save_back(job, code)
    except Exception as exc:  # the run happened; report why its changes were not kept
        log.exception("job %s: saving its changes failed", job.pk)
        status = Status.FAILED
        error = f"{error}\nsaving the job after its run failed: {exc!r}".strip()
    return status, error


def save_back(job: Job, code: Any) -> None:
    """Persist the code's changes to ``ownjob`` and to itself; honour ``deleteme``.

    Only changed fields are written (none, usually: then no query at all); a job deleted
    meanwhile is not resurrected.
    """
    if job.pk is None:
        return  # the code deleted its job
    if job.deleteme:
        log.info("job %s (%s) deleted: deleteme was set", job.pk, job.name)
        Job.objects.filter(pk=job.pk).delete()
        return
    job.job_code_object = code
    try:
        job.save()
    except DatabaseError:
        if Job.objects.filter(pk=job.pk).exists():
            raise  # deleted meanwhile: fine; anything else is a real error


@dataclass
class Child:
    """One run in progress, as the daemon sees it: the worker process that runs it."""

    claimed: Claimed
    pid: int
    fd: int
    deadline: float | None
    output: bytearray = field(default_factory=bytearray)
    terminated_at: float | None = None
    timed_out: bool = False
    exit_status: int | None = None


@dataclass
class Worker:
    pid: int
    task_fd: int
    result_fd: int
    runs: int = 0
    busy: Child | None = None
    buffer: bytearray = field(default_factory=bytearray)


def worker_main(task_fd: int, result_fd: int, max_runs: int) -> None:
    """Entry point of a worker process: run tasks from the pipe until told to stop; never
    returns."""
    code = 0
    try:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the daemon decides when runs stop
        tasks = os.fdopen(task_fd, "rb")
        for _ in range(max_runs):
            header = tasks.read(4)
            if len(header) < 4:
                break  # the daemon closed the pipe: retire
            # The task comes from the daemon that forked this worker: trusted. The job's code
            # object inside it is still verified (signature) before it is unpickled.
            task = pickle.loads(tasks.read(int.from_bytes(header, "big")))  # noqa: S301
            job, at, run_id, start_by = task
            close_old_connections()  # a connection that broke since the last run is replaced
            scheduled = datetime.fromtimestamp(at, UTC)
            status, error = run_code(
                job, not_before=at, start_by=start_by, run_id=run_id, scheduled=scheduled
            )
            close_old_connections()
            _flush_std()
            os.write(result_fd, json.dumps({"status": status, "error": error}).encode() + b"\n")
    except BaseException:  # noqa: BLE001 - report anything, then leave
        code = 1
        traceback.print_exc()
    finally:
        _flush_std()
        connections.close_all()
        os._exit(code)


def _flush_std() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001 - a closed stream must not hide the outcome
            pass


class PoolExecutor:
    """Runs each claimed occurrence in a worker process forked from the daemon.

    A worker runs one job at a time and is reused for up to ``max_runs`` runs, then replaced, so
    a job's leaks do not accumulate; ``max_runs=1`` gives every run a fresh process. A worker
    whose job hangs past its timeout is killed; one that crashes or exits is replaced; either way
    only that run is affected.
    """

    def __init__(self, max_runs: int = 100) -> None:
        self.max_runs = max_runs
        self.workers: dict[int, Worker] = {}
        self.retired: set[int] = set()
        self.keep_fds: set[int] = set()  # the daemon's own descriptors, closed in workers

    def start(self, claimed: Claimed, *, monotonic: float) -> Child:
        worker = next((w for w in self.workers.values() if w.busy is None), None) or self._fork()
        job = claimed.job if claimed.job is not None else claimed.job_id
        start_by = claimed.lease_until.timestamp() if claimed.lease_until else None
        task = (job, claimed.scheduled.timestamp(), claimed.run_id, start_by)
        task = pickle.dumps(task, pickle.HIGHEST_PROTOCOL)
        _write_all(worker.task_fd, len(task).to_bytes(4, "big") + task)
        worker.runs += 1
        deadline = monotonic + claimed.timeout if claimed.timeout else None
        worker.busy = Child(claimed, worker.pid, worker.result_fd, deadline)
        return worker.busy

    def warm(self, size: int) -> bool:
        """Start one more idle worker if the pool is smaller than ``size`` (call when idle, so
        that a burst of runs finds its workers ready)."""
        if len(self.workers) >= size:
            return False
        self._fork()
        return True

    def _fork(self) -> Worker:
        task_r, task_w = os.pipe()
        result_r, result_w = os.pipe()
        connections.close_all()  # never share a database socket with a worker
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the worker
            os.close(task_w)
            os.close(result_r)
            for fd in self._inherited_fds():
                try:
                    os.close(fd)
                except OSError:
                    pass
            worker_main(task_r, result_w, self.max_runs)
        os.close(task_r)
        os.close(result_w)
        os.set_blocking(result_r, False)
        worker = Worker(pid, task_w, result_r)
        self.workers[pid] = worker
        return worker

    def _inherited_fds(self) -> set[int]:
        fds = set(self.keep_fds)
        for other in self.workers.values():
            fds.update((other.task_fd, other.result_fd))
        return fds

    def poll(self, child: Child) -> bool:
        """Collect the worker's answer; True once the run is over (answered, or worker gone)."""
        worker = self.workers.get(child.pid)
        if worker is None:
            return True
        eof = _drain(worker.result_fd, worker.buffer)
        if b"\n" in worker.buffer:
            line, _, rest = bytes(worker.buffer).partition(b"\n")
            worker.buffer = bytearray(rest)
            child.output.extend(line)
            worker.busy = None
            if worker.runs >= self.max_runs:
                self._retire(worker)
            return True
        if not eof:
            return False
        _, status = os.waitpid(worker.pid, 0)
        child.exit_status = status
        self._forget(worker)
        return True

    def terminate(self, child: Child, *, monotonic: float, kill_after: float) -> None:
        """SIGTERM the run's worker, then SIGKILL ``kill_after`` seconds later."""
        sig = signal.SIGTERM
        if child.terminated_at is None:
            child.terminated_at = monotonic
        elif monotonic - child.terminated_at >= kill_after:
            sig = signal.SIGKILL
        else:
            return
        try:
            os.kill(child.pid, sig)
        except ProcessLookupError:
            pass

    def _retire(self, worker: Worker) -> None:
        self._forget(worker)
        self.retired.add(worker.pid)

    def _forget(self, worker: Worker) -> None:
        self.workers.pop(worker.pid, None)
        for fd in (worker.task_fd, worker.result_fd):
            try:
                os.close(fd)
            except OSError:
                pass

    def reap_retired(self) -> None:
        """Collect workers that finished their last run (and idle ones told to leave)."""
        for pid in list(self.retired):
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                done = pid
            if done:
                self.retired.discard(pid)

    def shutdown(self) -> None:
        """Send idle workers away (closing their task pipe ends their loop)."""
        for worker in list(self.workers.values()):
            if worker.busy is None:
                self._retire(worker)
        self.reap_retired()


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _drain(fd: int, buffer: bytearray) -> bool:
    """Read what is available into ``buffer``; True at end of file."""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            return False
        except OSError:
            return True
        if not chunk:
            return True
        buffer.extend(chunk)


def outcome(child: Child) -> tuple[str, str]:
    """The run's status and error text, from what the child said and how it ended."""
    if child.timed_out:
        return Status.TIMED_OUT, f"timed out after {child.claimed.timeout:g} s and was stopped"
    if child.output:
        try:
            said = json.loads(bytes(child.output))
            return said["status"], said["error"]
        except (ValueError, KeyError):
            pass
    status = child.exit_status or 0
    if os.WIFSIGNALED(status):
        name = signal.Signals(os.WTERMSIG(status)).name
        return Status.FAILED, f"the job process was killed by signal {name}"
    return Status.FAILED, (
        f"the job process exited with status {os.waitstatus_to_exitcode(status)} "
        "without reporting an outcome"
    )


class InlineExecutor:
    """Runs each claimed occurrence at once, in this process (tests, and ``runjob`` fallbacks)."""

    def start(self, claimed: Claimed, *, monotonic: float) -> Child:
        job = claimed.job if claimed.job is not None else claimed.job_id
        status, error = run_code(job, run_id=claimed.run_id, scheduled=claimed.scheduled)
        child = Child(claimed, pid=os.getpid(), fd=-1, deadline=None)
        child.output.extend(json.dumps({"status": status, "error": error}).encode())
        return child

    def poll(self, child: Child) -> bool:
        return True

    def terminate(self, child: Child, *, monotonic: float, kill_after: float) -> None:
        return None

    def reap_retired(self) -> None:
        return None

    def warm(self, size: int) -> bool:
        return False

    def shutdown(self) -> None:
        return None
