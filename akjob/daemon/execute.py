"""Running one claimed occurrence in a process of its own.

The child is forked from the daemon after the daemon closed its database connections, so the two
never share a socket. It loads the job, verifies and unpickles its code object, calls
``run(ownjob=job)``, saves back what the code changed (the code object's own state included) or
deletes the job when asked to, and writes its outcome to a pipe. Whatever the code does — raise,
hang, call ``os._exit``, crash the interpreter — the daemon learns it from the pipe, the exit
status or its own timeout, and goes on.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import traceback
from dataclasses import dataclass, field
from typing import Any

from django.db import DatabaseError, connections

from akjob.daemon.claim import Claimed
from akjob.exceptions import JobCodeError
from akjob.models import Job, JobRun

log = logging.getLogger("akjob.job")
Status = JobRun.Status
ERROR_TAIL = 8000


def run_code(job_id: int) -> tuple[str, str]:
    """Run a job's code object in this process; return (status, error text)."""
    try:
        job = Job.objects.get(pk=job_id)
    except Job.DoesNotExist:
        return Status.FAILED, "the job was deleted before its run started"
    try:
        code = job.job_code_object
    except JobCodeError as exc:
        return Status.FAILED, f"job code object refused: {exc}"
    if code is None:
        return Status.FAILED, "the job has no job_code_object"
    status, error = Status.SUCCEEDED, ""
    try:
        code.run(ownjob=job)
    except BaseException:  # noqa: BLE001 - SystemExit and KeyboardInterrupt are job failures too
        status, error = Status.FAILED, traceback.format_exc()[-ERROR_TAIL:]
        log.exception("job %s (%s) failed", job_id, job.name)
    try:
        save_back(job, code)
    except Exception as exc:  # the run happened; report why its changes were not kept
        log.exception("job %s: saving its changes failed", job_id)
        status = Status.FAILED
        error = f"{error}\nsaving the job after its run failed: {exc!r}".strip()
    return status, error


def save_back(job: Job, code: Any) -> None:
    """Persist the code's changes to ``ownjob`` and to itself; honour ``deleteme``."""
    if job.pk is None or not Job.objects.filter(pk=job.pk).exists():
        return  # the code (or someone else) deleted the job: nothing to resurrect
    if job.deleteme or Job.objects.filter(pk=job.pk, deleteme=True).exists():
        log.info("job %s (%s) deleted: deleteme was set", job.pk, job.name)
        job.delete()
        return
    job.job_code_object = code
    try:
        job.save()
    except DatabaseError:
        if Job.objects.filter(pk=job.pk).exists():
            raise  # deleted meanwhile: fine; anything else is a real error


def child_main(claimed: Claimed, write_fd: int) -> None:
    """Entry point of the forked child; never returns."""
    code = 0
    try:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the daemon decides when runs stop
        status, error = run_code(claimed.job_id)
        os.write(write_fd, json.dumps({"status": status, "error": error}).encode())
    except BaseException:  # noqa: BLE001 - report anything, then leave
        try:
            os.write(
                write_fd, json.dumps({"status": "failed", "error": traceback.format_exc()}).encode()
            )
        except OSError:
            pass
        code = 1
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:  # noqa: BLE001
                pass
        connections.close_all()
        os._exit(code)


@dataclass
class Child:
    """A running job process, as the daemon sees it."""

    claimed: Claimed
    pid: int
    fd: int
    deadline: float | None
    output: bytearray = field(default_factory=bytearray)
    terminated_at: float | None = None
    timed_out: bool = False
    exit_status: int | None = None


class ForkExecutor:
    """Starts each run in a forked child process."""

    def start(self, claimed: Claimed, *, monotonic: float) -> Child:
        read_fd, write_fd = os.pipe()
        connections.close_all()  # never share a database socket with the child
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child
            os.close(read_fd)
            child_main(claimed, write_fd)
        os.close(write_fd)
        os.set_blocking(read_fd, False)
        deadline = monotonic + claimed.timeout if claimed.timeout else None
        return Child(claimed, pid, read_fd, deadline)

    def poll(self, child: Child) -> bool:
        """Collect output; True once the child has exited and been reaped."""
        _drain(child)
        pid, status = os.waitpid(child.pid, os.WNOHANG)
        if pid == 0:
            return False
        _drain(child)
        os.close(child.fd)
        child.exit_status = status
        return True

    def terminate(self, child: Child, *, monotonic: float, kill_after: float) -> None:
        """SIGTERM, then SIGKILL ``kill_after`` seconds later."""
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


def _drain(child: Child) -> None:
    while True:
        try:
            chunk = os.read(child.fd, 65536)
        except BlockingIOError:
            return
        except OSError:
            return
        if not chunk:
            return
        child.output.extend(chunk)


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
        status, error = run_code(claimed.job_id)
        child = Child(claimed, pid=os.getpid(), fd=-1, deadline=None)
        child.output.extend(json.dumps({"status": status, "error": error}).encode())
        return child

    def poll(self, child: Child) -> bool:
        return True

    def terminate(self, child: Child, *, monotonic: float, kill_after: float) -> None:
        return None
