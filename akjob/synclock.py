"""The lock that serialises syncs of the schedules declared in code across processes.

Held for a whole sync, around its transaction, so that each sync reads what the one before it
wrote: a session-level advisory lock on PostgreSQL, a named lock on MariaDB/MySQL, and on SQLite
an exclusive file lock next to the database file (every process sharing an SQLite file runs on
its host). An SQLite database in memory belongs to one process and needs none.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.db import connections

from akjob.exceptions import AkjobError

__all__ = ["SyncBusy", "sync_lock"]

NAME = "akjob.sync"
PG_KEY = 0x616B6A6F62  # "akjob" as a number, the advisory lock's key
WAIT = 120.0  # seconds a sync waits for another one to end
SUFFIX = ".akjob-sync.lock"


class SyncBusy(AkjobError):
    """Another process held the sync lock for longer than a sync should take."""


@contextmanager
def sync_lock(using: str, *, wait: float = WAIT) -> Iterator[None]:
    connection = connections[using]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [PG_KEY])
        try:
            yield
        finally:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [PG_KEY])
    elif connection.vendor == "mysql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT GET_LOCK(%s, %s)", [NAME, int(wait)])
            (got,) = cursor.fetchone()
        if got != 1:
            raise SyncBusy(f"another sync held its lock for over {wait:.0f} s")
        try:
            yield
        finally:
            with connection.cursor() as cursor:
                cursor.execute("SELECT RELEASE_LOCK(%s)", [NAME])
    else:
        with _file_lock(_sqlite_file(), wait):
            yield


def _sqlite_file() -> Path | None:
    from akjob.daemon.dblock import database_file

    path = database_file()
    return path.with_name(path.name + SUFFIX) if path is not None else None


@contextmanager
def _file_lock(path: Path | None, wait: float) -> Iterator[None]:
    if path is None:
        yield
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise SyncBusy(f"another sync held {path} for over {wait:.0f} s") from None
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)  # closing releases the lock
