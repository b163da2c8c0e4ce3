"""Running claimed occurrences in worker processes.

Workers are forked from the daemon after it closed its database connections, so they never share
a socket. A worker treats each run as Django treats a request: before and after it, connections
that broke (the database server restarted) or outlived ``CONN_MAX_AGE`` are closed, so the next
query connects afresh. For each run a worker loads the job, verifies and unpickles its code
object, calls ``run(ownjob=job)``, saves back what the code changed (the code object's own state
included) or deletes the job when asked to. Workers take runs from one queue they share, and
each tells the daemon, on a pipe of its own, which run it took and then its outcome. Whatever the
code does — raise, hang, call ``os._exit``, crash the interpreter — the daemon learns it from the
pipe, the exit status or its own timeout, and goes on.
"""

from __future__ import annotations

import json
import logging
import mmap
import os
import pickle
import signal
import socket
import struct
import sys
import time
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.db import DatabaseError, close_old_connections, connections

from akjob import codeobjects
from akjob.context import RunInfo, running
from akjob.daemon.claim import Claimed
from akjob.exceptions import JobCodeError
from akjob.models import Job, JobRun

log = logging.getLogger("akjob.job")
Status = JobRun.Status
ERROR_TAIL = 8000
TASK_MAX = 64 * 1024  # bytes of one queued task; a job pickled larger is sent by id
REHEARSALS = 10  # rehearsed runs of a new worker (see rehearse)
BURST = 0.05  # seconds after runs came due in which the daemon leaves the CPU to workers


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
    start_by: float | Callable[[], float | None] | None = None,
    run_id: int | None = None,
    scheduled: datetime | None = None,
    after: Callable[[], object] | None = None,
) -> tuple[str, str]:
    """Run a job's code object in this process; return (status, error text).

    The job is loaded first; the code starts no earlier than ``not_before`` and, when it is
    given, no later than ``start_by`` (epoch seconds, or a function read when the run is about
    to start; past it the run is not started and is reported interrupted). The code sees its run
    (``run_id``, ``scheduled``) through :func:`akjob.context.current_run`.
    """
    job, code = load(job)
    if job is None:
        return code
    if not_before is not None:
        time.sleep(max(not_before - time.time(), 0.0))
    if callable(start_by):
        start_by = start_by()
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
    if after is not None:
        after()
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
    job.__dict__["_code_object"] = code  # saved (pickled and signed) only if it changed
    try:
        job.save()
    except DatabaseError:
        if Job.objects.filter(pk=job.pk).exists():
            raise  # deleted meanwhile: fine; anything else is a real error


@dataclass
class Child:
    """One run handed over, as the daemon sees it. ``pid`` is 0 until a worker took the run from
    the queue; ``earliest`` is the monotonic time the run may start (its timeout counts from
    there, or from when a worker took it, whichever is later)."""

    claimed: Claimed
    pid: int
    deadline: float | None
    output: bytearray = field(default_factory=bytearray)
    terminated_at: float | None = None
    timed_out: bool = False
    exit_status: int | None = None
    earliest: float = 0.0
    done: bool = False


@dataclass
class Worker:
    pid: int
    result_fd: int
    runs: int = 0
    busy: Child | None = None
    buffer: bytearray = field(default_factory=bytearray)


def worker_main(tasks: socket.socket, result_fd: int, max_runs: int, lease: mmap.mmap) -> None:
    """Entry point of a worker process: take runs from the shared queue until it closes or
    ``max_runs`` are done; never returns.

    The first thing said about a run is "S <run id>" (this worker took it), before anything can
    fail; the outcome follows as a JSON line once the run is over.
    """
    code = 0
    try:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the daemon decides when runs stop
        try:
            rehearse()
        except Exception:  # noqa: BLE001 - only a head start is lost; the runs go on
            log.warning("worker %s: the rehearsal failed", os.getpid(), exc_info=True)
        for _ in range(max_runs):
            message = tasks.recv(TASK_MAX)
            if not message:
                break  # the daemon closed the queue: retire
            run_id = int.from_bytes(message[:8], "big")
            os.write(result_fd, b"S %d\n" % run_id)
            # The task comes from the daemon that forked this worker: trusted. The job's code
            # object inside it is still verified (signature) before it is unpickled.
            job, at, start_by = pickle.loads(message[8:])  # noqa: S301
            fresh_connections()
            status, error = run_code(
                job,
                # Workers woken for the same second start their code before this one saves
                # and reports.
                after=os.sched_yield,
                not_before=at,
                start_by=lambda start_by=start_by: max(start_by or 0.0, _lease(lease)) or None,
                run_id=run_id,
                scheduled=datetime.fromtimestamp(at, UTC),
            )
            close_old_connections()
            _flush_std()
            said = {"status": status, "error": error}
            os.write(result_fd, json.dumps(said).encode() + b"\n")
    except BaseException:  # noqa: BLE001 - report anything, then leave
        code = 1
        traceback.print_exc()
    finally:
        _flush_std()
        connections.close_all()
        os._exit(code)


def fresh_connections() -> None:
    """Before a run: close the connections kept from earlier runs (``CONN_MAX_AGE``) that
    outlived their age or no longer answer, so the job's first query connects afresh.

    A server restarted while the worker was idle breaks its connection unseen: no error occurred
    on it, so Django's own end-of-request check would keep it. Each kept connection is therefore
    checked (a ping), as ``CONN_HEALTH_CHECKS`` does; with the default ``CONN_MAX_AGE = 0`` none
    is kept and nothing is checked.
    """
    for conn in connections.all(initialized_only=True):
        if conn.connection is not None:
            conn.errors_occurred = True  # Django checks it is usable, and closes it if not
    close_old_connections()


class _Rehearsal:
    """The code object of a worker's rehearsal: does nothing."""

    def run(self, ownjob: Job) -> None:
        return None


def rehearse(times: int = REHEARSALS) -> None:
    """Go through a run's steps, with a job that is never saved and code that does nothing.

    A forked worker shares the daemon's memory pages until it writes to them, and its first runs
    pay for copying the pages they write: measured, its first ten runs cost about three times the
    CPU of later ones. A new worker rehearses while it is idle, so that cost is not paid by the
    runs of a burst.
    """
    job = Job(name="rehearsal")
    job.job_code_object = _Rehearsal()
    job.__dict__.pop("_code_object")  # as a job read from the database: code still signed
    task = pickle.dumps((job, 0.0, None), pickle.HIGHEST_PROTOCOL)
    for _ in range(times):
        job, _, _ = pickle.loads(task)  # noqa: S301 - made just above
        close_old_connections()
        code = job.job_code_object
        with running(RunInfo(None, 0, None)):
            code.run(ownjob=job)
        job._changed_fields()
        codeobjects.dumps(code)
        json.dumps({"status": Status.SUCCEEDED, "error": ""}).encode()


def _lease(shared: mmap.mmap) -> float:
    return struct.unpack_from("d", shared)[0]


def _flush_std() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001 - a closed stream must not hide the outcome
            pass


class PoolExecutor:
    """Runs each claimed occurrence in a worker process forked from the daemon.

    Handed-over runs wait in one queue that every idle worker reads (a local sequenced-packet
    socket): a burst is handed over ahead of its time, and a worker that finishes a run takes the
    next one at once instead of waiting for the daemon to notice. A worker runs one job at a time
    and is reused for up to ``max_runs`` runs, then replaced, so a job's leaks do not accumulate;
    ``max_runs=1`` gives every run a fresh process. A worker whose job hangs past its timeout is
    killed; one that crashes or exits is replaced; either way only that run is affected.

    A worker refuses to start a run past the daemon's lease on it. The lease a run was handed
    over with is extended by :meth:`renewed` (a value shared with the workers), so a run that
    waits long for a free worker still starts, while one whose daemon stopped renewing does not.
    """

    queues = True  # takes every claimed run at once: they wait in its queue for a worker

    def __init__(self, max_runs: int = 100, *, size: int = 1) -> None:
        self.max_runs = max_runs
        self.size = size  # workers at most
        self.workers: dict[int, Worker] = {}
        self.retired: set[int] = set()
        self.keep_fds: set[int] = set()  # the daemon's own descriptors, closed in workers
        self.pending: dict[int, Child] = {}  # run id -> queued, not yet taken by a worker
        self.overflow: deque[bytes] = deque()  # tasks the queue had no room for yet
        self.suspect: set[int] = set()  # pending when a worker died idle: it may have taken one
        # The queue's two ends (the daemon sends, workers receive) and the lease shared with the
        # workers: made with the first worker, closed by shutdown.
        self._queue: socket.socket | None = None
        self._tasks: socket.socket | None = None
        self._lease: mmap.mmap | None = None

    def _open(self) -> tuple[socket.socket, socket.socket, mmap.mmap]:
        if self._queue is None or self._tasks is None or self._lease is None:
            self._queue, self._tasks = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            # Room for a burst (the system caps it; a full queue is waited out, not lost).
            self._queue.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
            self._lease = mmap.mmap(-1, 8)
        return self._queue, self._tasks, self._lease

    def start(self, claimed: Claimed, *, monotonic: float) -> Child:
        """Queue a run for the first idle worker."""
        job = claimed.job if claimed.job is not None else claimed.job_id
        start_by = claimed.lease_until.timestamp() if claimed.lease_until else None
        head = claimed.run_id.to_bytes(8, "big")
        task = pickle.dumps((job, claimed.scheduled.timestamp(), start_by), pickle.HIGHEST_PROTOCOL)
        if len(head) + len(task) > TASK_MAX:  # a big code object: the worker loads the job
            task = pickle.dumps((claimed.job_id, claimed.scheduled.timestamp(), start_by))
        self.overflow.append(head + task)
        self._push()
        child = Child(claimed, 0, None, earliest=monotonic)
        self.pending[claimed.run_id] = child
        idle = sum(1 for w in self.workers.values() if w.busy is None)
        if idle < len(self.pending) and len(self.workers) < self.size:
            self._fork()
        return child

    def _push(self) -> None:
        """Move tasks from the overflow into the queue while it has room."""
        if not self.overflow:
            return
        queue = self._open()[0]
        while self.overflow:
            try:
                queue.send(self.overflow[0], socket.MSG_DONTWAIT)
            except BlockingIOError:
                return
            self.overflow.popleft()

    def warm(self, size: int) -> bool:
        """Start one more idle worker if the pool is smaller than ``size`` (call when idle, so
        that a burst of runs finds its workers ready)."""
        if len(self.workers) >= size:
            return False
        self._fork()
        return True

    def _fork(self) -> Worker:
        queue, tasks, lease = self._open()
        result_r, result_w = os.pipe()
        connections.close_all()  # never share a database socket with a worker
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the worker
            os.close(result_r)
            queue.close()
            for fd in self._inherited_fds():
                try:
                    os.close(fd)
                except OSError:
                    pass
            worker_main(tasks, result_w, self.max_runs, lease)
        os.close(result_w)
        os.set_blocking(result_r, False)
        worker = Worker(pid, result_r)
        self.workers[pid] = worker
        return worker

    def _inherited_fds(self) -> set[int]:
        return self.keep_fds | {other.result_fd for other in self.workers.values()}

    def fds(self) -> list[int]:
        """The descriptors to wait on: a worker took a run, finished one, or ended."""
        return [w.result_fd for w in self.workers.values()]

    def collect(self, monotonic: float) -> None:
        """Read what the workers said: which runs they took, which finished, which ended."""
        for worker in list(self.workers.values()):
            eof = _drain(worker.result_fd, worker.buffer)
            while b"\n" in worker.buffer:
                line, _, rest = bytes(worker.buffer).partition(b"\n")
                worker.buffer = bytearray(rest)
                if line.startswith(b"S "):
                    self._took(worker, int(line[2:]), monotonic)
                    continue
                child, worker.busy = worker.busy, None
                if child is not None:
                    child.output.extend(line)
                    child.done = True
                if worker.runs >= self.max_runs:
                    self._retire(worker)
                    eof = False
                    break
            if eof:
                _, status = os.waitpid(worker.pid, 0)
                if worker.busy is not None:
                    worker.busy.exit_status = status
                    worker.busy.done = True
                elif worker.runs < self.max_runs:
                    self.suspect |= set(self.pending)  # it may have died holding one of these
                self._forget(worker)
        self._push()

    def _took(self, worker: Worker, run_id: int, monotonic: float) -> None:
        worker.runs += 1
        child = self.pending.pop(run_id, None)
        self.suspect.discard(run_id)
        worker.busy = child  # None: a run given up meanwhile; its outcome is not wanted
        if child is None:
            return
        child.pid = worker.pid
        if child.claimed.timeout:
            child.deadline = max(monotonic, child.earliest) + child.claimed.timeout

    def waiting(self, monotonic: float) -> bool:
        """True in a burst: while a run that may start now waits in the queue for a worker, or
        runs came due less than BURST seconds ago (their workers may not have started them)."""
        if any(child.earliest <= monotonic for child in self.pending.values()):
            return True
        busy = (w.busy for w in self.workers.values() if w.busy is not None)
        return any(monotonic - BURST <= child.earliest <= monotonic for child in busy)

    def poll(self, child: Child) -> bool:
        """True once the run is over (answered, or its worker gone); read by :meth:`collect`."""
        return child.done

    def take_back(self) -> list[Claimed]:
        """Take the runs no worker took yet out of the queue, in their order."""
        back = []
        messages = []
        while self._tasks is not None:
            try:
                message = self._tasks.recv(TASK_MAX, socket.MSG_DONTWAIT)
            except BlockingIOError:
                break
            if not message:
                break
            messages.append(message)
        messages += self.overflow
        self.overflow.clear()
        for message in messages:
            child = self.pending.pop(int.from_bytes(message[:8], "big"), None)
            if child is not None:
                back.append(child.claimed)
        return back

    def lost(self, monotonic: float) -> list[Child]:
        """Runs a worker took and then died with before saying so (killed between the two):
        after such a death, the runs that were queued then and are now neither in the queue nor
        taken by a live worker. Call after :meth:`take_back`, which empties the queue."""
        self.collect(monotonic)
        gone = [self.pending.pop(r) for r in self.suspect if r in self.pending]
        self.suspect = set()
        return gone

    def renewed(self, until: datetime) -> None:
        """The daemon renewed its leases until ``until``: workers may start runs until then."""
        struct.pack_into("d", self._open()[2], 0, until.timestamp())

    def terminate(self, child: Child, *, monotonic: float, kill_after: float) -> None:
        """SIGTERM the run's worker, then SIGKILL ``kill_after`` seconds later."""
        if not child.pid:
            return  # not started: nothing to stop
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
        try:
            os.close(worker.result_fd)
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
        """Close the queue (idle workers leave when they find it closed) and let them go."""
        for end in (self._queue, self._tasks, self._lease):
            if end is not None:
                end.close()
        self._queue = self._tasks = self._lease = None
        for worker in list(self.workers.values()):
            if worker.busy is None:
                self._retire(worker)
        self.reap_retired()


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

    queues = False  # runs one at a time: hand over no more runs than workers
    suspect: frozenset[int] = frozenset()

    def start(self, claimed: Claimed, *, monotonic: float) -> Child:
        job = claimed.job if claimed.job is not None else claimed.job_id
        status, error = run_code(job, run_id=claimed.run_id, scheduled=claimed.scheduled)
        child = Child(claimed, pid=os.getpid(), deadline=None, done=True)
        child.output.extend(json.dumps({"status": status, "error": error}).encode())
        return child

    def collect(self, monotonic: float) -> None:
        return None

    def waiting(self, monotonic: float) -> bool:
        return False

    def poll(self, child: Child) -> bool:
        return True

    def fds(self) -> list[int]:
        return []

    def take_back(self) -> list[Claimed]:
        return []

    def lost(self, monotonic: float) -> list[Child]:
        return []

    def renewed(self, until: datetime) -> None:
        return None

    def terminate(self, child: Child, *, monotonic: float, kill_after: float) -> None:
        return None

    def reap_retired(self) -> None:
        return None

    def warm(self, size: int) -> bool:
        return False

    def shutdown(self) -> None:
        return None
