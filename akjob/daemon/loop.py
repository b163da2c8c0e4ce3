"""akjobd's loop: the glue between its parts.

- the store (:mod:`akjob.daemon.store`) holds every statement sent to the database;
- the dispatcher (:mod:`akjob.daemon.dispatcher`) turns due jobs into claimed runs, and ended runs
  into records;
- the supervisor (:mod:`akjob.daemon.supervisor`) runs each claimed run in a process of its own,
  enforces timeouts and kills what a run leaves behind;
- membership (:mod:`akjob.daemon.membership`) heartbeats, renews leases and declares dead runs.

``Daemon.run_once(now)`` is one step and returns how long to sleep; it never sleeps itself, so
tests drive it with any ``now``. ``Daemon.run()`` repeats it, sleeping in ``select`` on the run
processes' pidfds and a wake-up pipe, so an ended run or a stop request wakes it at once.
"""

from __future__ import annotations

import errno
import logging
import os
import select
import signal
from contextlib import nullcontext
from datetime import datetime, timedelta

from django.db import DatabaseError, InterfaceError, connection, transaction

from akjob import alerts, daysets, log, metrics
from akjob import tasks as handoff
from akjob.conf import akjob_settings
from akjob.daemon import dbconn, dispatcher, membership, reload, runtime, store
from akjob.daemon.clock import Clock, SystemClock
from akjob.daemon.dispatcher import Claimed
from akjob.daemon.supervisor import InlineSupervisor, Run, Supervisor, kill_group, outcome
from akjob.exceptions import DatabaseGone
from akjob.models import DaemonRecord, Job, JobRun
from akjob.signals import run_finished, run_started

logger = logging.getLogger("akjob.daemon")
Status = JobRun.Status
WARM_WHEN_IDLE = 0.05  # seconds of idle time in which one more run process is forked
KILL_AFTER = 5.0  # seconds between SIGTERM and SIGKILL of a run's process group
POLL_WITHOUT_PIDFD = 0.05  # how often ended runs are looked for where pidfds are missing
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
        supervisor: Supervisor | InlineSupervisor | None = None,
        resume: dict | None = None,
    ) -> None:
        self.clock = clock or SystemClock()
        self.max_workers = max_workers or akjob_settings.max_workers
        self.supervisor = supervisor or Supervisor(size=self.max_workers)
        self.lease = akjob_settings.lease
        self.heartbeat_every = akjob_settings.heartbeat
        self.poll = akjob_settings.poll
        self.lookahead = akjob_settings.lookahead
        self.children: dict[int, Run] = {}  # runs in progress, by run id
        # Outcomes of ended runs not yet written (the database was unreachable): kept, their
        # leases renewed, and written at the next chance.
        self.unrecorded: list[tuple[Claimed, str, str, datetime]] = []
        # Jobs with runs recorded since the last heartbeat: their old run records are pruned to
        # AKJOB_RUNS_KEPT at the next one (one counting query for all of them).
        self.to_prune: set[int] = set()
        self.record: DaemonRecord | None = None
        self.stopping = False
        self.reopen_logs = False
        self._database: tuple[int, int] | None = None  # the SQLite file, as first seen
        self._last_heartbeat: float | None = None
        self._recovered_at: float | None = None  # monotonic time the database came back
        self._earliest: datetime | None | object = UNKNOWN  # the earliest next run, as last read
        self._task_cursor = 0  # where the next look at handed-over tasks' outcomes starts
        self._alerts_checked: float | None = None  # monotonic time of the last alert check
        self.hooks = metrics.Hooks()  # metrics and spans (run() sets up what the settings ask)
        self._wake_r, self._wake_w = os.pipe()
        for fd in (self._wake_r, self._wake_w):
            os.set_blocking(fd, False)
        self.supervisor.keep_fds.update((self._wake_r, self._wake_w))
        self.reload_requested = False
        self.watcher: reload.Watcher | None = None  # project files, watched once running
        if resume is not None:
            self._resume(resume)

    def _resume(self, state: dict) -> None:
        """Go on from where the akjobd that reloaded into this program stopped."""
        self.record = DaemonRecord.objects.get(pk=state["record"])
        self._database = store.database_identity()
        self._last_heartbeat = mono = self.clock.monotonic()
        for run in self.supervisor.adopt(state["runs"], state.get("lease_fd"), mono):
            self.children[run.claimed.run_id] = run
        logger.info("akjobd reloaded its code; %d run(s) in progress adopted", len(self.children))

    # -- control ---------------------------------------------------------------------------

    def request_stop(self) -> None:
        """Ask the loop to stop; safe to call from a signal handler."""
        self.stopping = True
        self.wake()

    def request_reload(self) -> None:
        """Ask the loop to load the code on disk afresh (SIGUSR1, ``akjobd reload``)."""
        self.reload_requested = True
        self.wake()

    def request_reopen(self) -> None:
        """Ask the loop to reopen its log files (SIGHUP, after logrotate moved them)."""
        self.reopen_logs = True
        self.wake()

    def wake(self) -> None:
        try:
            os.write(self._wake_w, b"x")
        except OSError as exc:  # pipe full: a wake-up is already pending
            if exc.errno != errno.EAGAIN:
                raise

    # -- one step ----------------------------------------------------------------------------

    def register(self, now: datetime) -> DaemonRecord:
        self._database = store.database_identity()
        self.record = store.register(now)
        self._last_heartbeat = self.clock.monotonic()
        if connection.vendor == "sqlite":
            # Write-ahead logging lets job processes read while the daemon writes.
            with connection.cursor() as cursor:
                cursor.execute("PRAGMA journal_mode=WAL")
        membership.recover_dead_local(self.record, now)
        logger.info("akjobd %s:%s started", store.HOST, os.getpid())
        return self.record

    def run_once(self, now: datetime, *, only: set[int] | None = None) -> float:
        """Heartbeat when due, record ended runs, start due runs; return seconds to sleep.

        The heartbeat comes first: after a pause (SIGSTOP, a stalled host) it finds out which
        claimed runs other daemons declared interrupted meanwhile, and stops them, before
        anything else. ``only``: act on these jobs alone (a run requested by hand).
        """
        if self.record is None:
            self.register(now)
        mono = self.clock.monotonic()
        if self._last_heartbeat is None or mono - self._last_heartbeat >= self.heartbeat_every:
            self.heartbeat(now, lag=mono - (self._last_heartbeat or mono))
            self._last_heartbeat = mono
        self.reap(now)
        if not self.stopping and self.dispatch(now, only=only):
            self.reap(now)  # runs that ended at once (or ran inline) are recorded now
        return self.sleep_for(now)

    def dispatch(self, now: datetime, *, only: set[int] | None = None) -> int:
        """Claim the due jobs' runs (jobs due within the look-ahead too, so that their processes
        are ready on time) and hand each to its process: as many as the supervisor has room
        for; those beyond the workers wait, loaded, for their go-ahead."""
        room = self.supervisor.claimable()
        horizon = now + timedelta(seconds=self.lookahead)
        # One short statement answers "anything due?"; an idle wake-up is that statement alone.
        self._earliest = store.earliest_next_run()
        if room <= 0 or self._earliest is None or self._earliest > horizon:
            return 0
        self._earliest = UNKNOWN  # what follows moves next run times: read again before sleeping
        due = Job.objects.due(horizon).order_by("_next_run", "pk")
        if only is not None:
            due = due.filter(pk__in=only)
        # Where the database can, the due rows are locked as they are read, skipping those
        # another daemon is claiming: each daemon takes the first due jobs no one else is at,
        # instead of all of them racing for the same rows.
        locking = store.can_skip_locked()
        with transaction.atomic() if locking else nullcontext():
            if locking:
                due = due.select_for_update(skip_locked=True)
            batch = store.read_jobs(due[:room])
            daysets.load_saved(batch)
            results = dispatcher.claim_batch(
                batch,
                now=now,
                daemon=self.record,
                lease=self.lease,
                pids=self.supervisor.ready(len(batch)),
                locked=locking,
            )
        claimed = [r for r in results if isinstance(r, Claimed)]
        self.hooks.claimed(len(results))
        for run in claimed:
            if run.replaces:
                self.stop_replaced(run)
            self.start(run)
        self.supervisor.release(self.clock.monotonic())
        return len(claimed)

    def stop_replaced(self, claimed: Claimed) -> None:
        """Stop this daemon's runs that the new run ``claimed`` replaces (overlap ``replace``)
        as on a timeout, when the new run starts (it may be claimed a moment ahead); they are
        recorded interrupted already. Another daemon's are stopped by that daemon when it next
        renews its leases (:meth:`drop_lost_runs`)."""
        mono = self.clock.monotonic()
        stop_at = mono + max((claimed.begins - self.clock.now()).total_seconds(), 0.0)
        for run_id in claimed.replaces:
            run = self.children.get(run_id)
            if run is None:
                continue
            logger.info("job %s run %s replaced: stopping it", run.claimed.job_id, run_id)
            run.stop_at = stop_at
            if stop_at <= mono:
                self.supervisor.terminate(run, monotonic=mono, kill_after=KILL_AFTER)

    def start(self, claimed: Claimed) -> None:
        if run_started.has_listeners(Job):
            run_started.send(sender=Job, run=JobRun.objects.get(pk=claimed.run_id))
        # A run handed over ahead of its time: its timeout counts from the time it may start.
        early = max((claimed.begins - self.clock.now()).total_seconds(), 0.0)
        run = self.supervisor.start(
            claimed, claimed.pid or 0, monotonic=self.clock.monotonic() + early
        )
        self.hooks.run_started(claimed, self.clock.now())
        if run.pid != (claimed.pid or 0):  # the process it was claimed for died: record the new one
            JobRun.objects.filter(pk=claimed.run_id).update(pid=run.pid)
        self.children[claimed.run_id] = run
        logger.debug("job %s run %s started in process %s", claimed.job_id, claimed.run_id, run.pid)

    def reap(self, now: datetime) -> int:
        """Record the outcome of every ended run; stop runs past their timeout."""
        ended = self.supervisor.collect(now)
        self.supervisor.release(self.clock.monotonic())  # the next waiting runs take their place
        for run in ended:
            del self.children[run.claimed.run_id]
            status, error = outcome(run)
            level = logging.INFO if status == Status.SUCCEEDED else logging.ERROR
            logger.log(
                level,
                "job %s run %s %s",
                run.claimed.job_id,
                run.claimed.run_id,
                status,
                extra=log.run_fields(run.claimed, status),
            )
            self.hooks.run_finished(run.claimed, status, error, run.ended or now)
            self.unrecorded.append((run.claimed, status, error, run.ended or now))
        mono = self.clock.monotonic()
        for run in self.children.values():
            if run.deadline is not None and mono >= run.deadline:
                run.timed_out = True
                self.supervisor.terminate(run, monotonic=mono, kill_after=KILL_AFTER)
            elif run.terminated_at is not None or (
                run.stop_at is not None and mono >= run.stop_at
            ):  # replaced: SIGTERM when the new run starts, SIGKILL once KILL_AFTER is over
                self.supervisor.terminate(run, monotonic=mono, kill_after=KILL_AFTER)
        if self.unrecorded:
            # One transaction: on a database error nothing is written and all are kept.
            done = dispatcher.finish_batch(self.unrecorded, daemon=self.record)
            self.to_prune.update(claimed.job_id for claimed, *_ in self.unrecorded)
            # Failing jobs and recoveries, announced once: only a failure, or a job that was
            # failing when its run was claimed, can change that (most runs need no query).
            ended_jobs = {
                claimed.job_id
                for claimed, status, *_ in self.unrecorded
                if status in alerts.FAILED_STATES
                or claimed.job is None
                or claimed.job._failing_since is not None
            }
            self.unrecorded = []
            alerts.runs_ended(ended_jobs)
            if run_finished.has_listeners(Job):
                for record in JobRun.objects.filter(pk__in=done):
                    run_finished.send(sender=Job, run=record)
        return len(ended)

    def heartbeat(self, now: datetime, *, lag: float = 0.0) -> None:
        """Renew this daemon's heartbeat and leases; interrupt runs of daemons gone silent.
        An SQLite file deleted or replaced since the start stops the daemon (DatabaseGone)."""
        if store.database_identity() != self._database:
            raise DatabaseGone("the SQLite database file was replaced since akjobd started")
        if self.watcher is not None and not self.reload_requested:
            changed = self.watcher.changed()
            if changed:
                logger.info("code changed on disk (%s): reloading", ", ".join(changed[:3]))
                self.reload_requested = True
        store.beat(self.record, now)
        self.hooks.heartbeat(lag=lag, busy=len(self.children), workers=self.max_workers)
        mine = self.renew_leases(now)
        if self._recovered_at is not None:
            # Every daemon lost the database, not only this one: give the others time to come
            # back (their back-off) and renew their leases before calling any of them dead.
            if self.clock.monotonic() - self._recovered_at >= BACKOFF_MAX + self.heartbeat_every:
                self._recovered_at = None
        if self._recovered_at is None:
            membership.interrupt_stale(
                now, daemon=self.record, heartbeat=self.heartbeat_every, lag=lag, mine=mine
            )
        if self.to_prune:
            store.prune_jobs(self.to_prune, akjob_settings.runs_kept)
            self.to_prune = set()
        self._task_cursor = handoff.refresh_results(TASK_REFRESH_BATCH, self._task_cursor)
        mono, last = self.clock.monotonic(), self._alerts_checked
        if last is None or mono - last >= akjob_settings.alert_check:
            self._alerts_checked = mono
            self.hooks.overdue(len(alerts.check(now)))

    def renew_leases(self, now: datetime) -> list[int]:
        """Renew the leases of this daemon's runs, and stop those it no longer owns (another
        daemon declared them interrupted, or replaced them). Returns the runs' ids."""
        mine = list(self.children)
        mine += [claimed.run_id for claimed, *_ in self.unrecorded]
        if mine:
            until = now + timedelta(seconds=self.lease)
            if store.renew_leases(self.record, mine, until) < len(mine):
                self.drop_lost_runs()
            self.supervisor.renewed(until)  # run processes may start until then
        return mine

    def drop_lost_runs(self) -> int:
        """Stop the runs that are no longer this daemon's: another daemon declared them
        interrupted while this one was paused past their lease. Their processes are killed at
        once (the job's next run may be starting elsewhere); their outcome is not recorded."""
        ours = store.still_ours(self.record, list(self.children))
        lost = [run for key, run in self.children.items() if key not in ours]
        for run in lost:
            kill_group(run.pid, signal.SIGKILL)
        if lost:
            logger.warning("%d run(s) were taken from this daemon; stopped", len(lost))
        return len(lost)

    def sleep_for(self, now: datetime) -> float:
        """Seconds until the next thing to do, at most the poll interval."""
        wait = self.poll
        nxt = self._earliest
        if nxt is UNKNOWN:
            nxt = store.earliest_next_run()
        self._earliest = UNKNOWN  # good for this wake-up only
        if nxt is not None and self.supervisor.room() > 0:
            wait = min(wait, (nxt - now).total_seconds() - self.lookahead)
        mono = self.clock.monotonic()
        for run in self.children.values():
            if run.deadline is not None:
                wait = min(wait, run.deadline - mono)
            if run.terminated_at is not None:
                wait = min(wait, run.terminated_at + KILL_AFTER - mono)
            elif run.stop_at is not None:
                wait = min(wait, run.stop_at - mono)
        if self.children and self.supervisor.polling():
            wait = min(wait, POLL_WITHOUT_PIDFD)
        return max(wait, 0.0)

    # -- the real loop -----------------------------------------------------------------------

    def run(self) -> None:
        """Run until :meth:`request_stop`; then stop gracefully.

        A database error (the server restarting, a lock wait given up) closes the connections and
        retries after a back-off, 0.5 s doubling up to BACKOFF_MAX: the daemon outlives outages.
        """
        backoff, outage = 0.5, False
        self.watcher = reload.Watcher()
        self.hooks = metrics.for_daemon_or_none()
        self.supervisor.keep_fds.update(self.hooks.fds)
        self.hooks.heartbeat(lag=0.0, busy=0, workers=self.max_workers)
        with dbconn.limited_lock_waits(self.heartbeat_every, idle=self.lease):
            while not self.stopping:
                if self.reopen_logs:
                    self.reopen_logs = False
                    log.reopen_files()
                if self.reload_requested:
                    self.reload()
                try:
                    wait = self.run_once(self.clock.now())
                    if outage:
                        logger.warning("database reachable again")
                        self._recovered_at = self.clock.monotonic()
                    outage, backoff = False, 0.5
                    if wait > WARM_WHEN_IDLE and self.supervisor.warm():
                        continue  # forking took a moment: look at the time again
                except DatabaseGone:
                    self._stop_now()
                    raise
                except (DatabaseError, InterfaceError) as exc:
                    if store.missing_table(exc):
                        self._stop_now()
                        what = str(exc).strip().splitlines()[0]
                        raise DatabaseGone(f"akjob's tables are gone: {what}") from exc
                    logger.error("database error, retrying in %.1f s: %s", backoff, exc)
                    self.hooks.database_error()
                    # A lost connection is an outage (every daemon lost its renewals); a lock
                    # wait given up is not, and must not hold back declaring silent peers dead.
                    outage = outage or not dbconn.usable()
                    dbconn.reset()
                    wait, backoff = backoff, min(backoff * 2, BACKOFF_MAX)
                self.wait(wait)
            self.shutdown()

    def reload(self) -> None:
        """Load the code on disk afresh, keeping the runs in progress: see
        :mod:`akjob.daemon.reload`. Returns only when the reload was refused (the code on disk
        does not load) or cannot happen now (outcomes wait for the database)."""
        self.reload_requested = False
        why = reload.loads_cleanly()
        if why is not None:
            logger.error("the code on disk does not load (%s); going on with the old code", why)
            if self.watcher is not None:
                self.watcher.accept()
            return
        self._safe_reap()
        if self.unrecorded or self.record is None:
            self.reload_requested = True  # when the outcomes are written
            return
        runs, fds = self.supervisor.hand_over()
        state = {"record": self.record.pk, "runs": runs, "lease_fd": self.supervisor._lease_fd}
        state["locks"] = [(str(lock.path), lock.fileno()) for lock in runtime.HELD_LOCKS]
        state["stderr"] = runtime.ECHO_STDERR
        fds += [fd for _, fd in state["locks"]]
        logger.info("akjobd reloads its code: %d run(s) in progress go on", len(runs))
        reload.exec_with(state, fds)

    def wait(self, seconds: float) -> None:
        fds = [self._wake_r, *self.supervisor.fds()]
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
        self.supervisor.let_go()  # runs waiting for their go-ahead end, recorded not started
        grace_end = self.clock.monotonic() + akjob_settings.stop_grace
        logger.info("akjobd stopping: %d run(s) in progress", len(self.children))
        while self.children and self.clock.monotonic() < grace_end:
            self._safe_reap()
            self._beat_while_stopping()
            if self.children:
                self.wait(min(0.2, max(grace_end - self.clock.monotonic(), 0)))
        for run in self.children.values():
            self.supervisor.terminate(run, monotonic=self.clock.monotonic(), kill_after=KILL_AFTER)
        kill_end = self.clock.monotonic() + KILL_AFTER
        while self.children and self.clock.monotonic() < kill_end + 1:
            for run in self.supervisor.collect(self.clock.now()):
                del self.children[run.claimed.run_id]
                self.unrecorded.append(
                    (
                        run.claimed,
                        Status.INTERRUPTED,
                        "akjobd stopped before the run finished",
                        run.ended or self.clock.now(),
                    )
                )
            for run in self.children.values():
                self.supervisor.terminate(
                    run, monotonic=self.clock.monotonic(), kill_after=KILL_AFTER
                )
            if self.children:
                self.wait(0.1)
        self._safe_reap()
        self.supervisor.shutdown()
        if self.record is not None:
            store.stopped(self.record, self.clock.now())
        logger.info("akjobd %s:%s stopped", store.HOST, os.getpid())

    def _beat_while_stopping(self) -> None:
        """While runs finish within the stop grace, keep saying this daemon is alive and renew
        their leases as usual: a grace longer than the lease must not let another daemon call
        them dead and start their job again beside them. A run taken from this daemon meanwhile
        (replaced by a new run elsewhere) is stopped, as at any lease renewal."""
        if self.record is None:
            return
        mono = self.clock.monotonic()
        if self._last_heartbeat is not None and mono - self._last_heartbeat < self.heartbeat_every:
            return
        self._last_heartbeat = mono
        try:
            now = self.clock.now()
            store.beat(self.record, now)
            self.renew_leases(now)
        except (DatabaseError, InterfaceError) as exc:
            logger.error("database error while stopping: %s", exc)
            dbconn.reset()

    def _stop_now(self) -> None:
        """Stop every run at once and let the spares go: nothing can be recorded any more."""
        for run in self.children.values():
            kill_group(run.pid, signal.SIGKILL)
        self.supervisor.collect(self.clock.now())
        self.supervisor.shutdown()

    def _safe_reap(self) -> None:
        try:
            self.reap(self.clock.now())
        except (DatabaseError, InterfaceError) as exc:
            logger.error("database error while stopping: %s", exc)
            dbconn.reset()
