"""The daemon's own database connections: how long they wait for row locks, whether one still
works after an error, and starting afresh."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import close_old_connections, connection, connections
from django.db.backends.signals import connection_created

from akjob.daemon import store

LOCK_WAIT_UID = "akjob.daemon.lock_wait"


class _LockWaitLimit:
    """On each new connection of the daemon process (not its workers: job code keeps the
    server's defaults), give up a row-lock wait after one heartbeat interval, and have the server
    end a transaction left idle for a lease. A peer stopped mid-transaction then costs this
    daemon a retry, not its heartbeats and leases, and holds its rows no longer than its lease."""

    def __init__(self, seconds: float, *, idle: float) -> None:
        self.seconds = seconds
        self.idle = idle
        self.pid = os.getpid()

    def __call__(self, sender: object, connection: object, **kwargs: object) -> None:
        if os.getpid() == self.pid:
            store.limit_lock_waits(connection, self.seconds, idle=self.idle)


@contextmanager
def limited_lock_waits(seconds: float, *, idle: float) -> Iterator[None]:
    """Within the block, the daemon's connections (made afresh) carry the limits above."""
    limit = _LockWaitLimit(seconds, idle=idle)
    connection_created.connect(limit, weak=False, dispatch_uid=LOCK_WAIT_UID)
    connections.close_all()  # reconnect with the limit
    try:
        yield
    finally:
        connection_created.disconnect(dispatch_uid=LOCK_WAIT_UID)


def usable() -> bool:
    """Whether the default connection still works (after a lock timeout it does)."""
    try:
        return connection.connection is not None and connection.is_usable()
    except Exception:  # noqa: BLE001 - a broken connection may fail to answer at all
        return False


def reset() -> None:
    """Close every connection (a broken one may fail to close); the next query reconnects."""
    for conn in connections.all():
        try:
            conn.close()
        except Exception:  # noqa: BLE001 - a broken connection may fail to close
            pass
    close_old_connections()
