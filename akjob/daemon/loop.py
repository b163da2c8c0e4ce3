"""akjobd's loop: wake when the earliest job is due, claim, start, reap, heartbeat.

``Daemon.run_once(now)`` is one step and returns how long to sleep; it never sleeps itself, so
tests drive it with any ``now``. ``Daemon.run()`` repeats it, sleeping in ``select`` on the job
processes' pipes and a wake-up pipe, so a finished job or a stop request wakes it at once.
"""

from __future__ import annotations

import errno
import logging
import os
import select
from collections import deque
from contextlib import nullcontext
from dataclasses import replace
from datetime import datetime, timedelta

from django.db import DatabaseError, InterfaceError, connection, transaction

from akjob import daysets
from akjob import tasks as handoff
from akjob.conf import akjob_settings
from akjob.daemon import claim as claims
from akjob.daemon import dbconn, peers, sql
from akjob.daemon.clock import Clock, SystemClock
from akjob.daemon.execute import Child, PoolExecutor, outcome
from akjob.models import DaemonRecord, Job, JobRun
from akjob.signals import run_finished, run_started
from akjob.timeutil import to_aware, to_db

log = logging.getLogger("akjob.daemon")
Status = JobRun.Status
SKIP_MARGIN = 50  # due jobs looked at beyond the free workers (overlaps need no worker)
WARM_WHEN_IDLE = 0.05  # seconds of idle time in which one more worker process is started
QUEUE_FACTOR = 4  # runs claimed per worker, at most: a burst is claimed ahead, work still spreads
KILL_AFTER = 5.0
DEFER_OUTCOMES = 0.1  # seconds outcomes may wait to be written during a burst (see reap)
TASK_REFRESH_BATCH = 20  # handed-over tasks whose outcome is asked for, per heartbeat
# Retry at least this often while the database is unreachable, so the runs that came due during
# an outage start within a few seconds of its end.
BACKOFF_MAX = 5.0
UNKNOWN = object()


class Daemon:
    def __init__(
        self,
        *,
        clock: Clock | None = None,
        max_workers: int | None = None,
        executor: PoolExecutor | None = None,
    ) -> None:
        self.clock = clock or SystemClock()
        self.max_workers = max_workers or akjob_settings.max_workers
        self.executor = executor or PoolExecutor(
            akjob_settings.worker_max_runs, size=self.max_workers
        )
        # Runs handed to the executor at once: a pool takes all the claimed ones and queues
        # those beyond its free workers; an executor without a queue takes one per worker.
        queued = QUEUE_FACTOR if self.executor.queues else 1
        self.capacity = queued * self.max_workers
        self.lease = akjob_settings.lease
        self.heartbeat_every = akjob_settings.heartbeat
        self.poll = akjob_settings.poll
        self.lookahead = akjob_settings.lookahead
        self.children: dict[int, Child] = {}
        self.queue: deque[claims.Claimed] = deque()
        # Outcomes of finished runs not yet written (the database was unreachable): kept, their
        # leases renewed, and written at the next chance.
        self.unrecorded: list[tuple[claims.Claimed, str, str]] = []
        # Jobs whose run this daemon declared interrupted but whose row another transaction held:
        # their running mark is cleared at a later heartbeat.
        self.unfreed: set[int] = set()
        # Jobs with runs recorded since the last heartbeat: their old run records are pruned to
        # AKJOB_RUNS_KEPT at the next one (one counting query for all of them).
        self.to_prune: set[int] = set()
        self.record: DaemonRecord | None = None
        self.stopping = False
        self._last_heartbeat: float | None = None
        self._recovered_at: float | None = None  # monotonic time the database came back
        self._renewed_until: datetime | None = None  # the leases as the last heartbeat wrote them
        self._earliest: datetime | None | object = UNKNOWN  # the earliest next run, as last read
        self._task_cursor = 0  # where the next look at handed-over tasks' outcomes starts
        self._deferred_since: float | None = None  # since when outcomes wait (see reap)
        self.backlog = False  # the last dispatch ran out of room: more runs may be due
        self._wake_r, self._wake_w = os.pipe()
        for fd in (self._wake_r, self._wake_w):
            os.set_blocking(fd, False)
        if hasattr(self.executor, "keep_fds"):
            self.executor.keep_fds.update((self._wake_r, self._wake_w))

    # -- control ---------------------------------------------------------------------------

    def request_stop(self) -> None:
        """Ask the loop to stop; safe to call from a signal handler."""
        self.stopping = True
        self.wake()

    def wake(self) -> None:
        try:
            os.write(self._wake_w, b"x")
        except OSError as exc:  # pipe full: a wake-up is already pending
            if exc.errno != errno.EAGAIN:
                raise

    # -- one step ----------------------------------------------------------------------------

    def register(self, now: datetime) -> DaemonRecord:
        self.record = DaemonRecord.objects.create(
            host=claims.HOST, pid=os.getpid(), started=to_db(now), heartbeat=to_db(now)
        )
        self._last_heartbeat = self.clock.monotonic()
        if connection.vendor == "sqlite":
            # Write-ahead logging lets job processes read while the daemon writes.
            with connection.cursor() as cursor:
                cursor.execute("PRAGMA journal_mode=WAL")
        self.recover_dead_local(now)
        self.unfreed |= claims.orphaned_jobs()
        self.free_held_jobs()
        log.info("akjobd %s:%s started", claims.HOST, os.getpid())
        return self.record

    def run_once(self, now: datetime) -> float:
        """Heartbeat when due, reap finished runs, start due runs; return seconds to sleep.

        The heartbeat comes first: after a pause (SIGSTOP, a stalled host) it finds out which
        claimed runs other daemons declared interrupted meanwhile, before any of them starts.
        """
        if self.record is None:
            self.register(now)
        mono = self.clock.monotonic()
        if self._last_heartbeat is None or mono - self._last_heartbeat >= self.heartbeat_every:
            self.heartbeat(now, lag=mono - (self._last_heartbeat or mono))
            self._last_heartbeat = mono
        self.reap(now)
        if not self.stopping and self.dispatch(now):
            self.reap(now)  # runs that ended at once (or ran inline) are recorded now
        return self.sleep_for(now)

    def dispatch(self, now: datetime) -> int:
        """Act on due jobs: claim runs (jobs due within the look-ahead too, so that their
        workers are ready on time) and record skipped occurrences. A daemon holds at most
        QUEUE_FACTOR runs per worker; those beyond its free workers wait in a queue for the
        first free worker, so a burst is claimed ahead while work still spreads over daemons."""
        room = QUEUE_FACTOR * self.max_workers - len(self.children) - len(self.queue)
        horizon = now + timedelta(seconds=self.lookahead)
        # One short statement answers "anything due?"; an idle wake-up is that statement alone.
        self._earliest = sql.earliest_next_run()
        self.backlog = False
        if self._earliest is None or self._earliest > horizon:
            return 0
        self._earliest = UNKNOWN  # what follows moves next run times: read again before sleeping
        due = Job.objects.due(horizon).order_by("_next_run", "pk")
        if room <= 0:
            due = due.filter(_job_running=True)  # only overlaps to record: they need no worker
        # Where the database can, the due rows are locked as they are read, skipping those
        # another daemon is claiming: each daemon takes the first due jobs no one else is at,
        # instead of all of them racing for the same rows.
        locking = sql.can_skip_locked()
        with transaction.atomic() if locking else nullcontext():
            if locking:
                due = due.select_for_update(skip_locked=True)
            batch = []
            for job in due[: max(room, 0) + SKIP_MARGIN]:
                if job._job_running and to_aware(job._next_run) > now:
                    continue  # an overlap is decided when the occurrence is really due
                if not job._job_running:
                    if room <= 0:
                        continue  # stays due: it runs when a worker is free, coalesced
                    room -= 1
                batch.append(job)
            # No room left: more jobs may be due, to claim as soon as runs end (see wait).
            self.backlog = room <= 0
            # The schedules' day sets, for the jobs acted on only (not the margin looked at).
            daysets.load_saved(batch)
            results = claims.claim_batch(
                batch,
                now=now,
                daemon=self.record,
                lease=self.lease,
                pid=os.getpid(),
                locked=locking,
            )
        claimed = [r for r in results if isinstance(r, claims.Claimed)]
        self.queue.extend(claimed)
        self.feed()
        return len(claimed)

    def feed(self) -> None:
        """Hand queued runs to the executor, earliest first, as many as it takes."""
        while self.queue and len(self.children) < self.capacity:
            self.start(self.queue.popleft())

    def start(self, claimed: claims.Claimed) -> None:
        if run_started.has_listeners(Job):
            run_started.send(sender=Job, run=JobRun.objects.get(pk=claimed.run_id))
        # The worker refuses to start the run past its lease (this daemon was paused between
        # claiming and handing over): by then another daemon may have declared it dead.
        if self._renewed_until is not None and (
            claimed.lease_until is None or claimed.lease_until < self._renewed_until
        ):
            claimed = replace(claimed, lease_until=self._renewed_until)
        # A run handed over ahead of its time: its timeout counts from its scheduled time.
        early = max((claimed.scheduled - self.clock.now()).total_seconds(), 0.0)
        child = self.executor.start(claimed, monotonic=self.clock.monotonic() + early)
        self.children[claimed.run_id] = child
        log.debug(
            "job %s run %s handed to a worker (scheduled %s)",
            claimed.job_id,
            claimed.run_id,
            claimed.scheduled,
        )

    def take_back(self) -> None:
        """Runs still waiting for a worker go back to the front of the queue, in order."""
        back = self.executor.take_back()
        for claimed in back:
            self.children.pop(claimed.run_id, None)
        self.queue.extendleft(reversed(back))

    def reap(self, now: datetime) -> int:
        """Record the outcome of every finished run; stop runs past their timeout."""
        finished = []
        mono = self.clock.monotonic()
        self.executor.collect(mono)
        for key, child in list(self.children.items()):
            if self.executor.poll(child):
                del self.children[key]
                finished.append(child)
            elif child.deadline is not None and mono >= child.deadline:
                child.timed_out = True
                self.executor.terminate(child, monotonic=mono, kill_after=KILL_AFTER)
        self.executor.reap_retired()
        self.feed()  # before the bookkeeping: a queued run should not wait for the database
        for child in finished:
            status, error = outcome(child)
            log.info("job %s run %s %s", child.claimed.job_id, child.claimed.run_id, status)
            self.unrecorded.append((child.claimed, status, error))
        if self.unrecorded and self._defer_outcomes(mono):
            return len(finished)
        self._deferred_since = None
        if self.unrecorded:
            # One transaction: on a database error nothing is written and all are kept.
            done = claims.finish_batch(self.unrecorded, daemon=self.record, now=now)
            self.to_prune.update(claimed.job_id for claimed, _, _ in self.unrecorded)
            self.unrecorded = []
            if run_finished.has_listeners(Job):
                for run in JobRun.objects.filter(pk__in=done):
                    run_finished.send(sender=Job, run=run)
        return len(finished)

    def _defer_outcomes(self, mono: float) -> bool:
        """During a burst (see the executor's ``waiting``), the outcomes of finished runs are
        kept for a moment rather than written: the workers get the CPU first. Not when
        stopping: every outcome is written before the daemon ends."""
        if self.stopping or not self.executor.waiting(mono):
            return False
        if self._deferred_since is None:
            self._deferred_since = mono
        return mono - self._deferred_since < DEFER_OUTCOMES

    def heartbeat(self, now: datetime, *, lag: float = 0.0) -> None:
        """Renew this daemon's heartbeat and leases; interrupt runs of daemons gone silent."""
        DaemonRecord.objects.filter(pk=self.record.pk).update(heartbeat=to_db(now))
        if self.executor.suspect:
            self.recover_lost()
        mine = [c.claimed.run_id for c in self.children.values()]
        mine += [c.run_id for c in self.queue]
        mine += [claimed.run_id for claimed, _, _ in self.unrecorded]
        if mine:
            until = now + timedelta(seconds=self.lease)
            renewed = peers.renew_leases(self.record, mine, until)
            if renewed < len(mine):
                self.drop_lost_runs()
            self._renewed_until = until
            self.executor.renewed(until)  # workers may start queued runs until then
        if self._recovered_at is not None:
            # Every daemon lost the database, not only this one: give the others time to come
            # back (their back-off) and renew their leases before calling any of them dead.
            if self.clock.monotonic() - self._recovered_at >= BACKOFF_MAX + self.heartbeat_every:
                self._recovered_at = None
        if self._recovered_at is None:
            self.interrupt_stale(now, lag=lag, mine=mine)
        self.free_held_jobs()
        if self.to_prune:
            claims.prune_jobs(self.to_prune, akjob_settings.runs_kept)
            self.to_prune = set()
        self._task_cursor = handoff.refresh_results(TASK_REFRESH_BATCH, self._task_cursor)

    def free_held_jobs(self) -> None:
        """Clear the running mark of the jobs in :attr:`unfreed` whose rows are free now."""
        if self.unfreed:
            self.unfreed -= claims.free_jobs(self.unfreed)

    def interrupt_stale(self, now: datetime, *, lag: float, mine: list[int]) -> int:
        """Mark interrupted the runs of other daemons whose lease ran out long enough ago."""
        # Declare a run dead only after its lease plus a grace that covers our own lag.
        cutoff = now - timedelta(seconds=self.heartbeat_every + max(lag, self.heartbeat_every))
        stale = peers.stale_runs(cutoff, exclude=mine)
        if not stale:
            return 0
        n = self._interrupt(stale, reason="its akjobd stopped heartbeating", now=now)
        log.warning("%d run(s) of silent daemons marked interrupted", n)
        return n

    def drop_lost_runs(self) -> int:
        """Forget queued runs that are no longer this daemon's: another daemon declared them
        interrupted while this one was paused past their lease. They must not start late."""
        self.take_back()
        queued = [c.run_id for c in self.queue]
        ours = peers.still_ours(self.record, queued)
        lost = len(queued) - len(ours)
        if lost:
            self.queue = deque(c for c in self.queue if c.run_id in ours)
            log.warning("%d claimed run(s) were taken from this daemon; not started", lost)
        self.feed()
        return lost

    def recover_lost(self) -> None:
        """A worker died without a run of its own: if it had just taken a queued run, that run
        is recorded interrupted (it cannot have started); the rest of the queue is kept."""
        self.take_back()
        for child in self.executor.lost(self.clock.monotonic()):
            del self.children[child.claimed.run_id]
            error = "its worker process ended as it took the run, before starting it"
            self.unrecorded.append((child.claimed, Status.INTERRUPTED, error))
        self.feed()

    def _interrupt(self, runs: list[int], *, reason: str, now: datetime) -> int:
        n, unfreed = claims.interrupt(runs, reason=reason, now=now)
        if unfreed:
            log.warning("job(s) %s held by another transaction: freed later", sorted(unfreed))
            self.unfreed |= unfreed
        return n

    def recover_dead_local(self, now: datetime) -> int:
        """Interrupt at once the runs of earlier daemons on this host whose process is gone."""
        runs = peers.dead_local_daemons(self.record, now)
        if not runs:
            return 0
        n = self._interrupt(runs, reason="its akjobd process died", now=now)
        if n:
            log.warning("%d run(s) of a dead akjobd on this host marked interrupted", n)
        return n

    def sleep_for(self, now: datetime) -> float:
        """Seconds until the next thing to do, at most the poll interval."""
        wait = self.poll
        nxt = self._earliest
        if nxt is UNKNOWN:
            nxt = sql.earliest_next_run()
        self._earliest = UNKNOWN  # good for this wake-up only
        if self.queue and len(self.children) < self.capacity:
            return 0.0
        if nxt is not None and len(self.children) < self.capacity:
            wait = min(wait, (nxt - now).total_seconds() - self.lookahead)
        mono = self.clock.monotonic()
        for child in self.children.values():
            if child.deadline is not None:
                wait = min(wait, child.deadline - mono)
            if child.terminated_at is not None:
                wait = min(wait, child.terminated_at + KILL_AFTER - mono)
        return max(wait, 0.0)

    # -- the real loop -----------------------------------------------------------------------

    def run(self) -> None:
        """Run until :meth:`request_stop`; then stop gracefully.

        A database error (the server restarting, a lock wait given up) closes the connections and
        retries after a back-off, 0.5 s doubling up to BACKOFF_MAX: the daemon outlives outages.
        """
        backoff, outage = 0.5, False
        with dbconn.limited_lock_waits(self.heartbeat_every, idle=self.lease):
            while not self.stopping:
                try:
                    wait = self.run_once(self.clock.now())
                    if outage:
                        log.warning("database reachable again")
                        self._recovered_at = self.clock.monotonic()
                    outage, backoff = False, 0.5
                    if wait > WARM_WHEN_IDLE and self.executor.warm(self.max_workers):
                        continue  # forking took a moment: look at the time again
                except (DatabaseError, InterfaceError) as exc:
                    log.error("database error, retrying in %.1f s: %s", backoff, exc)
                    # A lost connection is an outage (every daemon lost its renewals); a lock
                    # wait given up is not, and must not hold back declaring silent peers dead.
                    outage = outage or not dbconn.usable()
                    dbconn.reset()
                    wait, backoff = backoff, min(backoff * 2, BACKOFF_MAX)
                self.wait(wait)
            self.shutdown()

    def wait(self, seconds: float) -> None:
        fds = [self._wake_r, *self.executor.fds()]
        if self._deferred_since is not None and not self.backlog:
            # A burst, all of it claimed: the workers take their runs without this daemon;
            # what they say is read when the outcomes are due to be written.
            fds = [self._wake_r]
            left = self._deferred_since + DEFER_OUTCOMES - self.clock.monotonic()
            seconds = min(seconds, max(left, 0.0))
        try:
            ready, _, _ = select.select(fds, [], [], max(seconds, 0.0))
        except InterruptedError:
            return
        if self._wake_r in ready:
            try:
                while os.read(self._wake_r, 4096):
                    pass
            except BlockingIOError:
                pass

    def shutdown(self) -> None:
        """Stop claiming; let runs finish within the grace period; stop and record the rest."""
        self.take_back()
        if self.queue:
            self._interrupt(
                [c.run_id for c in self.queue],
                reason="akjobd stopped before the run started",
                now=self.clock.now(),
            )
            self.queue.clear()
        grace_end = self.clock.monotonic() + akjob_settings.stop_grace
        log.info("akjobd stopping: %d run(s) in progress", len(self.children))
        while self.children and self.clock.monotonic() < grace_end:
            self._safe_reap()
            if self.children:
                self.wait(min(0.2, max(grace_end - self.clock.monotonic(), 0)))
        for child in self.children.values():
            self.executor.terminate(child, monotonic=self.clock.monotonic(), kill_after=KILL_AFTER)
        kill_end = self.clock.monotonic() + KILL_AFTER
        while self.children and self.clock.monotonic() < kill_end + 1:
            self.executor.collect(self.clock.monotonic())
            for key, child in list(self.children.items()):
                if self.executor.poll(child):
                    del self.children[key]
                    claims.finish(
                        child.claimed,
                        daemon=self.record,
                        status=Status.INTERRUPTED,
                        error="akjobd stopped before the run finished",
                        now=self.clock.now(),
                    )
                else:
                    self.executor.terminate(
                        child, monotonic=self.clock.monotonic(), kill_after=KILL_AFTER
                    )
            if self.children:
                self.wait(0.1)
        self.executor.shutdown()
        if self.record is not None:
            DaemonRecord.objects.filter(pk=self.record.pk).update(stopped=to_db(self.clock.now()))
        log.info("akjobd %s:%s stopped", claims.HOST, os.getpid())

    def _safe_reap(self) -> None:
        try:
            self.reap(self.clock.now())
        except (DatabaseError, InterfaceError) as exc:
            log.error("database error while stopping: %s", exc)
            dbconn.reset()
