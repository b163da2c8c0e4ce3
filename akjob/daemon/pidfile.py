"""akjobd's pid file: an ``flock`` held on an open descriptor for the daemon's whole life.

The kernel drops the lock when the last descriptor of the locking process goes away, so a pid file
left behind by a dead daemon (kill -9, power loss) is harmless by construction, and a live but
unrelated process whose pid happens to sit in an unlocked file does not fool anyone: the lock, not
the pid written inside, says whether akjobd runs. The pid is written for humans and for ``stop``.

:class:`PidFile` is a context manager, so it can be handed to python-daemon as
``DaemonContext(pidfile=PidFile(path))``; it may also be acquired before forking (``acquire``) and
the lock inherited by the daemon (``detach`` in the parent).

akjobd only ever writes, truncates or removes an *akjobd pid file*: a regular file (not a symbolic
link) that is empty or holds one process id (digits, with white space around them), at most
:data:`MAX_SIZE` bytes. Any other file at the pid file's path is refused with
:class:`DaemonError`, before anything is written, and so is a pid file name that is not a plain
file name (see docs/daemon.md).

A pid file removed (or replaced) while its daemon runs does not hide the daemon: the daemon still
holds the lock on the removed file, and :func:`find_holder` finds it through ``/proc``
(:mod:`akjob.daemon.unlinked`).
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from akjob.daemon.unlinked import unlinked_holder
from akjob.exceptions import DaemonAlreadyRunning, DaemonError

# A failed non-blocking lock is tried again for this long: a ``status`` probe holds a shared lock
# for a few microseconds, which must not make a ``start`` give up.
RETRY_FOR = 0.1
_BUSY = {errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES}
MAX_SIZE = 32  # bytes of an akjobd pid file: a process id and a newline, with room to spare
_OPEN = os.O_RDWR | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC

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
        """Take the lock or raise :class:`DaemonAlreadyRunning`; empties the file on success.

        Raises :class:`DaemonError`, having written nothing, when the path holds something
        else than an akjobd pid file. A daemon still holding the lock on a pid file removed
        from this path counts as running.
        """
        if self._fd is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + RETRY_FOR
        while True:
            fd, created = _open(self.path)
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
        try:
            self._check_before_writing(fd)
        except BaseException:
            if created and _is_current(fd, self.path):
                self.path.unlink(missing_ok=True)
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        self._fd = fd
        self._owner = os.getpid()

    def _check_before_writing(self, fd: int) -> None:
        """Refuse a locked file that is no akjobd pid file, or a path whose removed pid file a
        live daemon still holds."""
        problem = _problem(os.fstat(fd), lambda: os.pread(fd, MAX_SIZE + 1, 0))
        if problem is not None:
            raise not_a_pid_file(self.path, problem)
        holder = unlinked_holder(self.path)
        if holder is not None:
            exc = DaemonAlreadyRunning(f"{self.path} was removed while pid {holder} holds it")
            exc.pid = holder  # type: ignore[attr-defined]
            exc.path = self.path  # type: ignore[attr-defined]
            raise exc

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


def _open(path: Path) -> tuple[int, bool]:
    """Open ``path`` for locking (created if missing, never through a symbolic link); also say
    whether this call created it."""
    while True:
        try:
            return os.open(path, _OPEN), False
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise _refusal(path, exc) from None
        try:
            return os.open(path, _OPEN | os.O_CREAT | os.O_EXCL, 0o644), True
        except FileExistsError:
            continue  # created meanwhile: open that one
        except OSError as exc:
            raise _refusal(path, exc) from None


def _refusal(path: Path, exc: OSError) -> OSError | DaemonError:
    if exc.errno == errno.ELOOP:
        return not_a_pid_file(path, "is a symbolic link")
    if exc.errno == errno.EISDIR:
        return not_a_pid_file(path, "is a directory")
    return exc


def not_a_pid_file(path: str | os.PathLike[str], problem: str) -> DaemonError:
    """The error for a path that holds something else than an akjobd pid file."""
    return DaemonError(
        f"{path} {problem}, not an akjobd pid file (empty, or one process id); akjobd "
        "leaves it alone: choose another pid file (-pd/-pn)"
    )


def _problem(st: os.stat_result, read: Callable[[], bytes]) -> str | None:
    """Why a file with this ``lstat``/``fstat`` is no akjobd pid file (``read()`` gives its
    first bytes), or None."""
    if stat.S_ISLNK(st.st_mode):
        return "is a symbolic link"
    if stat.S_ISDIR(st.st_mode):
        return "is a directory"
    if not stat.S_ISREG(st.st_mode):
        return "is not a regular file"
    if st.st_size > MAX_SIZE:
        return f"holds {st.st_size} bytes"
    text = read().decode("ascii", errors="replace").strip()
    if text and not text.isdigit():
        return "holds something else than a process id"
    return None


def check_pid_name(name: str) -> None:
    """Raise :class:`DaemonError` unless ``name`` is a plain file name: not empty, no path
    separator, no ``..``."""
    separators = {os.sep, os.altsep or os.sep, "\0"}
    if not name or name == "." or ".." in name or any(sep in name for sep in separators):
        raise DaemonError(
            f"the pid file name {name!r} must be a plain file name, without a path separator "
            "or '..'; give the directory with -pd"
        )


def check_pid_path(path: str | os.PathLike[str]) -> None:
    """Raise :class:`DaemonError` when ``path`` exists and is no akjobd pid file."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise DaemonError(f"{path} cannot be a pid file: {exc.strerror}") from exc

    def read() -> bytes:
        with open(path, "rb") as file:
            return file.read(MAX_SIZE + 1)

    problem = _problem(st, read)
    if problem is not None:
        raise not_a_pid_file(path, problem)


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


@dataclass(frozen=True)
class Holder:
    """The process that holds a pid file's lock: its pid (None while a starting daemon has not
    written it yet), and whether it was found through a pid file removed from the path."""

    pid: int | None
    removed: bool = False


def find_holder(path: str | os.PathLike[str]) -> Holder | None:
    """Who holds the lock on the pid file ``path``, or None: the lock on the file at ``path``,
    else the lock on a file removed from ``path`` that a live process still holds."""
    if is_locked(path):
        return Holder(read_pid(path))
    pid = unlinked_holder(path)
    return Holder(pid, removed=True) if pid is not None else None


def is_running(path: str | os.PathLike[str]) -> bool:
    """Whether an akjobd holds the pid file ``path`` (the pid inside is not trusted for this),
    also after its pid file was removed."""
    return find_holder(path) is not None


def wait_for_pid(path: str | os.PathLike[str], timeout: float) -> int | None:
    """The pid of the holder of ``path`` once it is known (a starting daemon writes it a moment
    after taking the lock); None if nobody holds the lock or the file stays empty."""
    deadline = time.monotonic() + timeout
    while True:
        holder = find_holder(path)
        if holder is None or holder.pid is not None or time.monotonic() >= deadline:
            return holder.pid if holder is not None else None
        time.sleep(0.02)


def _close_kept_locks_in_child() -> None:
    for lock in list(_kept_from_children):
        lock._forget_in_child()


os.register_at_fork(after_in_child=_close_kept_locks_in_child)
