"""The supervisor: the processes that run jobs, their timeouts and their ends.

Every run has a process of its own, forked from the daemon for that run alone, in a process
group of its own, dying with the daemon (see :mod:`akjob.daemon.runner`). Processes are forked
ahead while the daemon is idle (spares, as many as may run at once) so that a run starts without
waiting for a fork; each takes exactly one run and then ends.

At most ``size`` runs execute at once. When more are due (a burst), up to ``ahead`` times as
many are claimed and handed to their processes anyway: each loads its job and waits, and the
supervisor gives the next one the go-ahead, earliest first, as soon as a running one ends. So a
burst is forked and loaded ahead, and a run starts without waiting for a claim or a fork.

A run ends when its process exits, seen through a pidfd and ``waitpid``, never through a pipe
that a left-behind child could hold open; then its whole process group is killed, so nothing the
run started outlives it. A timeout or a stop kills the group too: SIGTERM first, SIGKILL a moment
later.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import mmap
import os
import pickle
import select
import signal
import struct
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from akjob.daemon import runner
from akjob.daemon.dispatcher import Claimed
from akjob.models import JobRun

log = logging.getLogger("akjob.daemon")
Status = JobRun.Status
TASK_MAX = 60 * 1024  # bytes of a task sent whole (a pipe takes 64 KiB); larger: sent by id
OUTPUT_KEPT = 64 * 1024  # bytes of a run's result pipe kept (its outcome is the last line)
FORKS_PER_WAKE = 4  # processes forked at most per claim, beyond the spares
AHEAD = 4  # runs claimed per worker at most: those beyond the workers wait, loaded, for a go


@dataclass
class Run:
    """One run handed to its process, as the daemon sees it. ``earliest`` is the monotonic time
    the run may start (its occurrence); its timeout counts from there. ``ended`` is the wall-clock
    time its process was seen to exit."""

    claimed: Claimed
    pid: int
    deadline: float | None
    earliest: float = 0.0
    output: bytearray = field(default_factory=bytearray)
    terminated_at: float | None = None
    stop_at: float | None = None  # replaced by a newer run: stopped then (monotonic)
    timed_out: bool = False
    exit_status: int | None = None
    ended: datetime | None = None


@dataclass
class Proc:
    """A process forked for one run: a spare until ``run`` is set."""

    pid: int
    task_fd: int  # the daemon's end of the pipe the run is sent on
    result_fd: int  # the daemon's end of the pipe the outcome comes back on
    pidfd: int | None
    run: Run | None = None
    go: bool = False  # told to start its run (at its time)
    reported: bool = False  # its run's outcome came back: the job's code is done
    result_open: bool = True  # its result pipe has not reached its end


class Supervisor:
    """Runs each claimed occurrence in a process of its own; at most ``size`` at once."""

    def __init__(self, *, size: int = 1, ahead: int = AHEAD) -> None:
        self.size = size
        self.ahead = ahead
        self.procs: dict[int, Proc] = {}
        self.keep_fds: set[int] = set()  # the daemon's own descriptors, closed in run processes
        self._lease: mmap.mmap | None = None  # the daemon's lease, shared with run processes
        self._lease_fd: int | None = None

    # -- processes ---------------------------------------------------------------------------

    def spares(self) -> list[int]:
        """The processes ready for a run."""
        return [p.pid for p in self.procs.values() if p.run is None]

    def ready(self, wanted: int) -> list[int]:
        """Processes for up to ``wanted`` runs (forking what is missing, within :meth:`room`)."""
        spares = self.spares()
        wanted = min(wanted, self.room())
        while len(spares) < wanted:
            spares.append(self._fork().pid)
        return spares[:wanted]

    def room(self) -> int:
        """How many more runs may be handed over now (running, or loaded and waiting)."""
        return self.size * self.ahead - sum(1 for p in self.procs.values() if p.run is not None)

    def claimable(self) -> int:
        """How many runs to claim now: within :meth:`room`, as many as there are spares and
        FORKS_PER_WAKE more. A burst is forked a few processes at a time, between which the
        daemon reads outcomes and gives go-aheads, instead of all at once."""
        return min(self.room(), len(self.spares()) + FORKS_PER_WAKE)

    def free(self) -> int:
        """How many more runs may execute now. A run whose process reported its outcome no
        longer counts: its job's code is done, and the process only exits (what the run left
        behind is killed as soon as it has)."""
        return self.size - sum(1 for p in self.procs.values() if p.go and not p.reported)

    def warm(self) -> bool:
        """Fork one more spare if fewer are ready than may run at once (called when idle, so
        that a burst finds its processes forked)."""
        if len(self.spares()) >= min(self.size, self.room()):
            return False
        self._fork()
        return True

    def _fork(self) -> Proc:
        lease = self._shared_lease()
        task_r, task_w = os.pipe()
        result_r, result_w = os.pipe()
        close = self.keep_fds | {fd for p in self.procs.values() for fd in _fds(p)}
        daemon_pid = os.getpid()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the run process
            os.close(task_w)
            os.close(result_r)
            runner.process_main(task_r, result_w, lease, daemon_pid, close)
        with contextlib.suppress(OSError):
            os.setpgid(pid, pid)  # the group exists at once, whoever gets to it first
        os.close(task_r)
        os.close(result_w)
        os.set_blocking(result_r, False)
        proc = Proc(pid, task_w, result_r, _pidfd(pid))
        self.procs[pid] = proc
        return proc

    def start(self, claimed: Claimed, pid: int, *, monotonic: float) -> Run:
        """Send a run to process ``pid`` (from :meth:`ready`); if that process is gone, to a
        new one (the returned run's ``pid`` says which)."""
        proc = self.procs.get(pid)
        job = claimed.job if claimed.job is not None else claimed.job_id
        start_by = claimed.lease_until.timestamp() if claimed.lease_until else None
        at = claimed.scheduled.timestamp()
        details = (at, start_by, claimed.attempt, claimed.begins.timestamp())
        task = pickle.dumps((job, *details), pickle.HIGHEST_PROTOCOL)
        if len(task) > TASK_MAX:  # a big code object: the run process loads the job
            task = pickle.dumps((claimed.job_id, *details), pickle.HIGHEST_PROTOCOL)
        message = runner.encode_task(claimed.run_id, task)
        for _ in range(3):
            if proc is None or proc.run is not None:
                proc = self._fork()
            try:
                os.write(proc.task_fd, message)
                break
            except OSError as exc:  # it died before its run: take another
                if exc.errno != errno.EPIPE:
                    raise
                proc = None
        else:
            raise RuntimeError("no run process could take the run")
        proc.run = Run(claimed, proc.pid, None, earliest=monotonic)
        return proc.run

    def release(self, monotonic: float) -> int:
        """Give the go-ahead to waiting runs, earliest first, while fewer than ``size`` run.
        A run's timeout counts from its go-ahead, or from its time if that is later."""
        waiting = sorted(
            (p for p in self.procs.values() if p.run is not None and not p.go),
            key=lambda p: (p.run.claimed.scheduled, p.run.claimed.run_id),
        )
        released = 0
        for proc in waiting[: max(self.free(), 0)]:
            try:
                os.write(proc.task_fd, runner.GO)
            except OSError:  # it died meanwhile: collect() records how
                pass
            _close(proc.task_fd)
            proc.task_fd, proc.go = -1, True
            run = proc.run
            if run.claimed.timeout:
                run.deadline = max(monotonic, run.earliest) + run.claimed.timeout
            released += 1
        return released

    def let_go(self) -> None:
        """The daemon stops: runs waiting for their go-ahead get none; each ends at once,
        reporting it was not started."""
        for proc in self.procs.values():
            if proc.run is not None and not proc.go:
                _close(proc.task_fd)
                proc.task_fd, proc.go = -1, True

    def fds(self) -> list[int]:
        """What to wait on: each process's pidfd, readable once it exited, and the result pipe
        of each run executing, readable once it reported (which frees its worker)."""
        return [p.pidfd for p in self.procs.values() if p.pidfd is not None] + [
            p.result_fd for p in self._executing()
        ]

    def polling(self) -> bool:
        """True when some process has no pidfd (not Linux 5.3+): its end must be polled for."""
        return any(p.pidfd is None for p in self.procs.values())

    def _executing(self) -> list[Proc]:
        return [p for p in self.procs.values() if p.go and not p.reported and p.result_open]

    def _read_reports(self) -> None:
        """Read what the executing runs' processes reported; a full line is the outcome."""
        for proc in self._executing():
            output = proc.run.output
            proc.result_open = not _drain(proc.result_fd, output)
            if b"\n" in output:
                proc.reported = True

    def _exited(self) -> list[Proc]:
        """The processes whose pidfd says they exited (all of them where pidfds are missing)."""
        with_fd = {p.pidfd: p for p in self.procs.values() if p.pidfd is not None}
        ready: list[int] = []
        if with_fd:
            ready, _, _ = select.select(list(with_fd), [], [], 0)
        return [with_fd[fd] for fd in ready] + [p for p in self.procs.values() if p.pidfd is None]

    def collect(self, now: datetime) -> list[Run]:
        """The runs whose process exited, with their outcome; each one's process group is
        killed, so what the run left behind ends with it. Spares that died are forgotten.
        Reports that came in meanwhile free their workers (see :meth:`free`)."""
        self._read_reports()
        finished = []
        for proc in self._exited():
            try:
                pid, status = os.waitpid(proc.pid, os.WNOHANG)
            except ChildProcessError:
                pid, status = proc.pid, 0
            if not pid:
                continue
            kill_group(proc.pid, signal.SIGKILL)
            run = proc.run
            if run is not None:
                _drain(proc.result_fd, run.output)
                run.exit_status, run.ended = status, now
                finished.append(run)
            elif proc.task_fd >= 0:
                log.warning("run process %s ended before its run", proc.pid)
            self._forget(proc)
        return finished

    def terminate(self, run: Run, *, monotonic: float, kill_after: float) -> None:
        """SIGTERM the run's process group, then SIGKILL ``kill_after`` seconds later."""
        sig = signal.SIGTERM
        if run.terminated_at is None:
            run.terminated_at = monotonic
        elif monotonic - run.terminated_at >= kill_after:
            sig = signal.SIGKILL
        else:
            return
        kill_group(run.pid, sig)

    def renewed(self, until: datetime) -> None:
        """The daemon renewed its leases until ``until``: run processes may start until then."""
        struct.pack_into("d", self._shared_lease(), 0, until.timestamp())

    def _shared_lease(self) -> mmap.mmap:
        if self._lease is None:
            self._lease_fd = os.memfd_create("akjob-lease")  # kept across a reload (exec)
            os.ftruncate(self._lease_fd, 8)
            self._lease = mmap.mmap(self._lease_fd, 8)
            self.keep_fds.add(self._lease_fd)
        return self._lease

    # -- handing over to a reloaded daemon (see akjob.daemon.reload) --------------------------

    def hand_over(self) -> tuple[list[dict[str, Any]], list[int]]:
        """Let the spares go, and describe the runs for the next program: (runs, descriptors
        to keep open across the exec)."""
        self.shutdown(keep_lease=True)
        runs, fds = [], [self._lease_fd] if self._lease is not None else []
        for proc in self.procs.values():
            run = proc.run
            claimed = run.claimed
            runs.append(
                {
                    "run_id": claimed.run_id,
                    "job_id": claimed.job_id,
                    "scheduled": claimed.scheduled.timestamp(),
                    "timeout": claimed.timeout,
                    "pid": proc.pid,
                    "task_fd": proc.task_fd,
                    "result_fd": proc.result_fd,
                    "go": proc.go,
                    "timed_out": run.timed_out,
                    "attempt": claimed.attempt,
                }
            )
            fds += [fd for fd in (proc.task_fd, proc.result_fd) if fd >= 0]
        return runs, fds

    def adopt(
        self, runs: list[dict[str, Any]], lease_fd: int | None, monotonic: float
    ) -> list[Run]:
        """Take over the runs a reloaded daemon handed over (its processes are this process's
        children still). A timeout starts again from now."""
        if lease_fd is not None:
            self._lease_fd = lease_fd
            self._lease = mmap.mmap(lease_fd, 8)
            self.keep_fds.add(lease_fd)
        adopted = []
        for item in runs:
            scheduled = datetime.fromtimestamp(item["scheduled"], UTC)
            claimed = Claimed(
                item["run_id"],
                item["job_id"],
                scheduled,
                item["timeout"],
                attempt=item.get("attempt", 1),
            )
            pid = item["pid"]
            for fd in (item["task_fd"], item["result_fd"]):
                if fd >= 0:
                    os.set_inheritable(fd, False)
            proc = Proc(pid, item["task_fd"], item["result_fd"], _pidfd(pid), go=item["go"])
            deadline = monotonic + claimed.timeout if claimed.timeout and item["go"] else None
            if item["timed_out"]:
                deadline = monotonic  # stopped again at once, SIGKILL after the usual wait
            proc.run = Run(claimed, pid, deadline, earliest=monotonic, timed_out=item["timed_out"])
            self.procs[pid] = proc
            adopted.append(proc.run)
        return adopted

    def _forget(self, proc: Proc) -> None:
        self.procs.pop(proc.pid, None)
        for fd in _fds(proc):
            _close(fd)

    def shutdown(self, *, keep_lease: bool = False) -> None:
        """Let the spares go (their pipe closes unused) and collect them; kill what is left."""
        for proc in list(self.procs.values()):
            if proc.run is None:
                _close(proc.task_fd)
                proc.task_fd = -2  # let go on purpose: its end is expected
        for proc in list(self.procs.values()):
            if proc.run is None:
                kill_group(proc.pid, signal.SIGKILL)
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(proc.pid, 0)
                self._forget(proc)
        if self._lease is not None and not keep_lease:
            self._lease.close()
            self._lease = None
            _close(self._lease_fd)


def kill_group(pgid: int, sig: int) -> bool:
    """Send ``sig`` to process group ``pgid``; False when nothing is left in it. (The group is
    made by the daemon and by the process itself right after the fork, whichever comes first,
    so it exists before anything could signal it.) Never this process's own group."""
    if pgid <= 1 or pgid == os.getpgrp():
        return False
    try:
        os.killpg(pgid, sig)
        return True
    except ProcessLookupError:
        return False


def _pidfd(pid: int) -> int | None:
    try:
        fd = os.pidfd_open(pid)
    except (AttributeError, OSError):  # not Linux 5.3+: the daemon polls instead
        return None
    return fd


def _fds(proc: Proc) -> list[int]:
    return [fd for fd in (proc.task_fd, proc.result_fd, proc.pidfd) if fd is not None and fd >= 0]


def _close(fd: int | None) -> None:
    if fd is not None and fd >= 0:
        with contextlib.suppress(OSError):
            os.close(fd)


def _drain(fd: int, buffer: bytearray) -> bool:
    """Read what is there on a run's result pipe, never waiting (a child the run left behind
    may hold the pipe open); True at its end. Only the last OUTPUT_KEPT bytes are kept, so
    job code writing there cannot fill the daemon's memory."""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except (BlockingIOError, OSError):
            return False
        if not chunk:
            return True
        buffer.extend(chunk)
        if len(buffer) > OUTPUT_KEPT:
            del buffer[:-OUTPUT_KEPT]


def outcome(run: Run) -> tuple[str, str]:
    """The run's status and error text, from what its process said and how it ended."""
    if run.timed_out:
        return Status.TIMED_OUT, f"timed out after {run.claimed.timeout:g} s and was stopped"
    if run.output:
        try:
            said = json.loads(bytes(run.output).splitlines()[-1])
            return said["status"], said["error"]
        except (ValueError, KeyError, IndexError, TypeError):
            pass
    status = run.exit_status or 0
    if os.WIFSIGNALED(status):
        name = signal.Signals(os.WTERMSIG(status)).name
        return Status.FAILED, f"the job process was killed by signal {name}"
    return Status.FAILED, (
        f"the job process exited with status {os.waitstatus_to_exitcode(status)} "
        "without reporting an outcome"
    )


class InlineSupervisor:
    """Runs each claimed occurrence at once, in this process: the loop-step tests."""

    def __init__(self, *, size: int = 1) -> None:
        self.size = size
        self.done: list[Run] = []
        self.keep_fds: set[int] = set()

    def spares(self) -> list[int]:
        return [0] * self.size  # no process of its own: nothing to record or kill

    def ready(self, wanted: int) -> list[int]:
        return [0] * min(wanted, self.size)

    def free(self) -> int:
        return self.size

    def room(self) -> int:
        return self.size

    def claimable(self) -> int:
        return self.room()

    def release(self, monotonic: float) -> int:
        return 0

    def let_go(self) -> None:
        return None

    def warm(self) -> bool:
        return False

    def start(self, claimed: Claimed, pid: int, *, monotonic: float) -> Run:
        job: Any = claimed.job if claimed.job is not None else claimed.job_id
        status, error = runner.run_code(
            job, run_id=claimed.run_id, scheduled=claimed.scheduled, attempt=claimed.attempt
        )
        run = Run(claimed, pid=pid, deadline=None)
        run.output.extend(json.dumps({"status": status, "error": error}).encode())
        self.done.append(run)
        return run

    def fds(self) -> list[int]:
        return []

    def polling(self) -> bool:
        return False

    def collect(self, now: datetime) -> list[Run]:
        done, self.done = self.done, []
        for run in done:
            run.ended = now
        return done

    def terminate(self, run: Run, *, monotonic: float, kill_after: float) -> None:
        return None

    def renewed(self, until: datetime) -> None:
        return None

    def shutdown(self) -> None:
        return None
