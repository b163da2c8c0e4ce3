"""akjobd's pid file: an ``flock`` held on an open descriptor for the daemon's whole life.

The kernel drops the lock when the last descriptor of the locking process goes away, so a pid file
left behind by a dead daemon (kill -9, power loss) is harmless by construction, and a live but
unrelated process whose pid happens to sit in an unlocked file does not fool anyone: the lock, not
the pid written inside, says whether akjobd runs. The pid is written for humans and for ``stop``.

:class:`PidFile` is a context manager, so it can be handed to python-daemon as
``DaemonContext(pidfile=PidFile(path))``; it may also be acquired before forking (``acquire``) and
the lock inherited by the daemon (``detach`` in the parent).
"""

from __future__ import annotations

import errno
import fcntl
import os
import time
import weakref
from pathlib import Path
from types import TracebackType

from akjob.exceptions import DaemonAlreadyRunning, DaemonError

# A failed non-blocking lock is tried again for this long: a ``status`` probe holds a shared lock
# for a few microseconds, which must not make a ``start`` give up.
RETRY_FOR = 0.1
_BUSY = {errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES}

_kept_from_children: weakref.WeakSet[LockFile] = weakref.WeakSet()


class LockFile:
    """An exclusive ``flock`` on ``path``, with the holder's pid written inside."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._fd: int | None = None
        self._owner: int | None = None

    def __repr__(self) -> str:
        state = f"held by {self._owner}" if self._fd is not None else "not held"
        return f"<{type(self).__name__} {self.path} {state}>"

    @property
    def held(self) -> bool:
        return self._fd is not None

    def fileno(self) -> int:
        if self._fd is None:
            raise DaemonError(f"{self.path} is not locked by this process")
        return self._fd

    def acquire(self) -> None:
        """Take the lock or raise :class:`DaemonAlreadyRunning`; empties the file on success."""
        if self._fd is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + RETRY_FOR
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                os.close(fd)
                if exc.errno not in _BUSY:
                    raise
                if time.monotonic() < deadline:
                    time.sleep(0.01)
                    continue
                raise self._busy() from None
            if _is_current(fd, self.path):
                break
            # The holder unlinked the file while releasing it; lock the new one instead.
            os.close(fd)
        os.ftruncate(fd, 0)
        self._fd = fd
        self._owner = os.getpid()

    def _busy(self) -> DaemonAlreadyRunning:
        pid = read_pid(self.path)
        exc = DaemonAlreadyRunning(f"{self.path} is locked by pid {pid or '?'}")
        exc.pid = pid  # type: ignore[attr-defined]
        exc.path = self.path  # type: ignore[attr-defined]
        return exc

    @classmethod
    def inherited(cls, path: str | os.PathLike[str], fd: int) -> LockFile:
        """The lock this process holds on descriptor ``fd`` since before an ``exec`` (a reload)."""
        lock = cls(path)
        os.set_inheritable(fd, False)
        lock._fd, lock._owner = fd, os.getpid()
        return lock

    def adopt(self) -> None:
        """Make this process the owner of a lock it inherited across ``fork``."""
        self.fileno()
        self._owner = os.getpid()

    def write_pid(self, pid: int | None = None) -> None:
        """Write ``pid`` (default: this process) into the locked file."""
        fd = self.fileno()
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{pid or os.getpid()}\n".encode(), 0)

    def keep_from_children(self) -> None:
        """Close this lock's descriptor in every process forked from now on.

        Job processes forked by the daemon would otherwise inherit the descriptor and keep the
        lock alive after the daemon itself is gone.
        """
        _kept_from_children.add(self)

    def release(self) -> None:
        """Remove the file (if still ours) and drop the lock. Safe to call twice.

        Only the process that acquired the lock removes the file; a forked copy of this object in
        another process just closes its descriptor.
        """
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            if self._owner == os.getpid():
                if _is_current(fd, self.path):
                    self.path.unlink(missing_ok=True)
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)
            _kept_from_children.discard(self)

    def detach(self) -> None:
        """Close this process's descriptor without unlocking: a forked child keeps the lock."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)
        _kept_from_children.discard(self)

    def _forget_in_child(self) -> None:
        self.detach()
        self._owner = None


class PidFile(LockFile):
    """The daemon's pid file, usable as ``DaemonContext(pidfile=…)``.

    Entering takes the lock (unless already taken before forking), writes this process's pid and
    keeps the descriptor from job processes; leaving removes the file and releases the lock.
    """

    def __enter__(self) -> PidFile:
        self.acquire()
        self.adopt()
        self.write_pid()
        self.keep_from_children()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def _is_current(fd: int, path: Path) -> bool:
    """Whether ``fd`` is still the file at ``path`` (not unlinked or replaced meanwhile)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    fst = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (fst.st_dev, fst.st_ino)


def read_pid(path: str | os.PathLike[str]) -> int | None:
    """The pid written in ``path``, or None (missing, empty or garbled file)."""
    try:
        text = Path(path).read_text(encoding="ascii", errors="replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() and int(text) > 0 else None


def is_locked(path: str | os.PathLike[str]) -> bool:
    """Whether some live process holds the lock on ``path``."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in _BUSY:
            return True
        raise
    finally:
        os.close(fd)  # closing drops the probe's shared lock
    return False


def is_running(path: str | os.PathLike[str]) -> bool:
    """Whether an akjobd holds the pid file ``path`` (the pid inside is not trusted for this)."""
    return is_locked(path)


def wait_for_pid(path: str | os.PathLike[str], timeout: float) -> int | None:
    """The pid in ``path`` once the lock holder has written it (a starting daemon writes it a
    moment after taking the lock); None if the file is not locked or stays empty."""
    deadline = time.monotonic() + timeout
    while True:
        pid = read_pid(path)
        if pid is not None or not is_locked(path) or time.monotonic() >= deadline:
            return pid
        time.sleep(0.02)


def _close_kept_locks_in_child() -> None:
    for lock in list(_kept_from_children):
        lock._forget_in_child()


os.register_at_fork(after_in_child=_close_kept_locks_in_child)
