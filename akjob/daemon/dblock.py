"""One akjobd per SQLite database (see docs/guarantees.md, "Several daemons").

SQLite has no row locks to share work between daemons, so akjobd also locks a file next to the
database file, ``<database>.akjobd.lock``: a second daemon, even with another pid file, finds it
taken and refuses to start. Other databases need no such lock.
"""

from __future__ import annotations

from pathlib import Path

from django.db import connections, router

from akjob.daemon.pidfile import LockFile

SUFFIX = ".akjobd.lock"


def database_file() -> Path | None:
    """The SQLite file akjob's tables live in, or None (another database, or SQLite in memory)."""
    from akjob.models import Job

    connection = connections[router.db_for_write(Job)]
    if connection.vendor != "sqlite":
        return None
    name = str(connection.settings_dict.get("NAME") or "")
    if not name or name == ":memory:" or "mode=memory" in name:
        return None
    if name.startswith("file:"):
        name = name[len("file:") :].split("?", 1)[0]
    return Path(name).resolve()


def database_lock() -> LockFile | None:
    """The lock for akjob's SQLite database, not yet acquired; None when none is needed."""
    path = database_file()
    return LockFile(path.with_name(path.name + SUFFIX)) if path is not None else None
