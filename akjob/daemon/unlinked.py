"""Finding akjobd after its pid file was removed (docs/daemon.md).

akjobd holds an ``flock`` on its pid file for its whole life. Remove the file (``rm``, a clean-up
of the run directory) and the daemon still holds the lock, on a file no longer at that path, so
``stop`` and ``status`` would find nothing, and ``start`` would start a second daemon. The kernel
still knows better: ``/proc/PID/fd/N`` of the daemon links to ``"<path> (deleted)"``, and opening
that link reaches the removed file, whose lock can be probed as usual. The lock, not a pid
written somewhere, still says whether akjobd runs: a process that merely has the removed file
open does not count.

This works on Linux, for the processes whose ``/proc/PID/fd`` the caller may read (its own user's;
all of them for root). Elsewhere, or for another user's daemon, nothing is found.
"""

from __future__ import annotations

import errno
import fcntl
import os
from pathlib import Path

PROC = Path("/proc")
REMOVED = " (deleted)"  # what the kernel appends to the link of a removed file
_BUSY = {errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES}


def unlinked_holder(path: str | os.PathLike[str]) -> int | None:
    """The pid of a live process holding the lock on a file removed from ``path``, or None."""
    target = str(_canonical(Path(path))) + REMOVED
    try:
        entries = list(os.scandir(PROC))
    except OSError:
        return None
    for entry in entries:
        if not entry.name.isdigit():
            continue
        for link in _links_to(Path(entry.path) / "fd", target):
            if _locked(link):
                return int(entry.name)
    return None


def _canonical(path: Path) -> Path:
    """``path`` as the kernel names it: absolute, the directories' symbolic links resolved."""
    path = path.absolute()
    return path.parent.resolve() / path.name


def _links_to(fd_dir: Path, target: str) -> list[Path]:
    """The descriptors in ``fd_dir`` (one process's) that link to ``target``."""
    try:
        names = os.listdir(fd_dir)
    except OSError:  # gone, or another user's process
        return []
    found = []
    for name in names:
        link = fd_dir / name
        try:
            if os.readlink(link) == target:
                found.append(link)
        except OSError:
            continue
    return found


def _locked(link: Path) -> bool:
    """Whether the file behind ``link`` is locked (by anyone but this probe)."""
    try:
        fd = os.open(link, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError as exc:
        return exc.errno in _BUSY
    finally:
        os.close(fd)  # closing drops the probe's shared lock
    return False
