"""What happens inside a run's own process: load the job, verify and unpickle its code object,
call ``run(ownjob=job)``, save back what the code changed, report the outcome.

A run process is forked from akjobd for one run and ends with it (see
:mod:`akjob.daemon.supervisor`). It leads a process group of its own, dies with the
daemon, and never executes code of a second run. Job code that forks and returns in the child
too cannot go on as a second copy of the run: the child leaves at once (see :func:`run_code`).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import mmap
import os
import pickle
import signal
import struct
import sys
import time
import traceback
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from django.db import DatabaseError, connections

from akjob.context import RunInfo, running
from akjob.exceptions import JobCodeError
from akjob.models import Job, JobRun

log = logging.getLogger("akjob.job")
Status = JobRun.Status
ERROR_TAIL = 8000
CODE_DROPPED = (
    "the job's code object was replaced during the run; the run's changes to it were dropped"
)
PR_SET_PDEATHSIG = 1
HEADER = struct.Struct("!QI")  # a task on its pipe: run id, then the pickle's length
GO = b"g"  # sent on the task's pipe once the run may execute
# Connections inherited from the daemon at fork: kept referenced and never used or closed, so
# that nothing in this process says goodbye on the daemon's sockets.
_INHERITED: list[Any] = []


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
    go: Callable[[], bool] | None = None,
    start_by: float | Callable[[], float | None] | None = None,
    run_id: int | None = None,
    scheduled: datetime | None = None,
    attempt: int = 1,
) -> tuple[str, str]:
    """Run a job's code object in this process; return (status, error text).

    The job is loaded first; the code starts no earlier than ``not_before``, once ``go()`` (if
    given) returned True (False: the daemon let the run go, it is not started), and, when it is
    given, no later than ``start_by`` (epoch seconds, or a function read when the run is about
    to start; past it the run is not started and is reported interrupted). The code sees its run
    (``run_id``, ``scheduled``, ``attempt``) through :func:`akjob.context.current_run`.

    A process that the job's code forked and that comes back here (``os.fork()`` returning in
    both processes) leaves at once: only the run's own process saves and reports.
    """
    job, code = load(job)
    if job is None:
        return code
    if not_before is not None:
        time.sleep(max(not_before - time.time(), 0.0))
    if go is not None and not go():
        return Status.INTERRUPTED, "not started: akjobd stopped before the run could start"
    if callable(start_by):
        start_by = start_by()
    if start_by is not None and time.time() > start_by:
        return Status.INTERRUPTED, (
            "not started: its lease ran out before it could start (akjobd was paused or too "
            "busy to renew it), so another daemon may have declared it dead"
        )
    status, error = Status.SUCCEEDED, ""
    me = os.getpid()
    try:
        with running(RunInfo(run_id, job.pk, scheduled, attempt)):
            code.run(ownjob=job)
    except BaseException:  # noqa: BLE001 - SystemExit and KeyboardInterrupt are job failures too
        if os.getpid() != me:
            os._exit(1)
        status, error = Status.FAILED, traceback.format_exc()[-ERROR_TAIL:]
        log.exception("job %s (%s) failed", job.pk, job.name)
    if os.getpid() != me:  # a child the job's code forked, returning: not the run
        os._exit(0)
    try:
        if not save_back(job, code):
            error = f"{error}\n{CODE_DROPPED}".strip()
    except Exception as exc:  # the run happened; report why its changes were not kept
        log.exception("job %s: saving its changes failed", job.pk)
        status = Status.FAILED
        error = f"{error}\nsaving the job after its run failed: {exc!r}".strip()
    return status, error


def save_back(job: Job, code: Any) -> bool:
    """Persist the code's changes to ``ownjob`` and to itself; honour ``deleteme``. False when
    the code object's own state was dropped: someone replaced the job's code object while it
    ran, and theirs wins (the job's other changes are saved).

    Only changed fields are written (none, usually: then no query at all); a job deleted
    meanwhile is not resurrected.
    """
    if job.pk is None:
        return True  # the code deleted its job
    if job.deleteme:
        log.info("job %s (%s) deleted: deleteme was set", job.pk, job.name)
        Job.objects.filter(pk=job.pk).delete()
        return True
    # Handed back as loaded, not assigned: an assignment would win over a replacement.
    job.__dict__["_code_object"] = code  # saved (pickled and signed) only if it changed
    try:
        job.save()
    except DatabaseError:
        if Job.objects.filter(pk=job.pk).exists():
            raise  # deleted meanwhile: fine; anything else is a real error
    if job._code_dropped:
        log.warning("job %s: %s", job.pk, CODE_DROPPED)
        return False
    return True


# -- the run process -------------------------------------------------------------------------


def process_main(
    task_fd: int, result_fd: int, lease: mmap.mmap, daemon_pid: int, close: Iterable[int]
) -> None:
    """Entry point of a run process, just forked from the daemon: detach, get ready, wait for
    its one run, run it, report, exit. Never returns."""
    code = 0
    try:
        os.setpgid(0, 0)  # a process group of its own: the run's processes (see supervisor)
        _die_with(daemon_pid)
        for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGCHLD, signal.SIGUSR1):
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the daemon decides when runs stop
        forget_connections()
        for fd in close:
            with contextlib.suppress(OSError):
                os.close(fd)
        task = read_task(task_fd)
        if task is None:
            return  # the daemon let this process go unused
        run_id, (job, at, start_by, attempt, begin) = task
        status, error = run_code(
            job,
            not_before=begin,
            go=lambda: _go_ahead(task_fd),
            start_by=lambda: max(start_by or 0.0, _lease(lease)) or None,
            run_id=run_id,
            scheduled=datetime.fromtimestamp(at, UTC),
            attempt=attempt,
        )
        _flush_std()
        os.write(result_fd, json.dumps({"status": status, "error": error}).encode() + b"\n")
        _after_report()
    except BaseException:  # noqa: BLE001 - report anything, then leave
        code = 1
        traceback.print_exc()
    finally:
        _flush_std()
        os._exit(code)


def _after_report() -> None:
    """The outcome is reported, which frees this run's worker: what is left (leaving, and the
    kernel freeing this process's memory) yields to the runs still to start."""
    with contextlib.suppress(OSError):
        os.nice(19)


def _go_ahead(task_fd: int) -> bool:
    """Wait for the daemon's go-ahead on the task's pipe, then close it (the job's code and
    what it forks never hold it). False when the daemon let the run go instead."""
    try:
        return _read_exactly(task_fd, len(GO)) == GO
    finally:
        os.close(task_fd)


def _die_with(daemon_pid: int) -> None:
    """Have the kernel kill this process when the daemon dies (Linux); if it already died
    between the fork and now, leave."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != daemon_pid:
        os._exit(0)


def forget_connections() -> None:
    """Drop, without closing, the database connections inherited from the daemon: closing one
    would end the daemon's session on the server. This process connects afresh when it needs."""
    for conn in connections.all(initialized_only=True):
        if conn.connection is not None:
            _INHERITED.append(conn.connection)
            conn.connection = None
        conn.in_atomic_block = False
        conn.savepoint_ids = []
        conn.needs_rollback = False
        conn.run_on_commit = []


def encode_task(run_id: int, task: bytes) -> bytes:
    return HEADER.pack(run_id, len(task)) + task


def read_task(fd: int) -> tuple[int, Any] | None:
    """The run sent on ``fd``: (run id, (job or job id, epoch of its occurrence, start-by)), or
    None when the daemon closed the pipe without sending one."""
    head = _read_exactly(fd, HEADER.size)
    if head is None:
        return None
    run_id, size = HEADER.unpack(head)
    body = _read_exactly(fd, size)
    if body is None:
        return None
    # Sent by the daemon that forked this process: trusted. The job's code object inside is
    # still verified (signature) before it is unpickled.
    return run_id, pickle.loads(body)  # noqa: S301


def _read_exactly(fd: int, size: int) -> bytes | None:
    data = bytearray()
    while len(data) < size:
        chunk = os.read(fd, size - len(data))
        if not chunk:
            return None
        data.extend(chunk)
    return bytes(data)


def _lease(shared: mmap.mmap) -> float:
    return struct.unpack_from("d", shared)[0]


def _flush_std() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001 - a closed stream must not hide the outcome
            pass
