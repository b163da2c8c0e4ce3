"""Job code objects: :class:`JobCallable`, and the signed pickles they are stored as.

A stored code object is ``akjob:2:<python>:<job id>:<version>:<hex HMAC-SHA256>:<pickle>``. The
HMAC is keyed from ``SECRET_KEY`` (``SECRET_KEY_FALLBACKS`` are accepted when verifying) and covers
everything before it and the pickle. It binds the pickle to one job and to one version of that
job's code object (``Job._code_version``, counted up whenever the code blob changes), and all of
it is checked before a single byte is unpickled: a row written by someone without the key, a blob
copied from another job, or an older blob put back over a newer one is refused, never executed.

Blobs of the first format, ``akjob:1:<python>:<mac>:<pickle>``, bound to nothing, are refused at
load; the migration that brought versions, and ``manage.py akjobd resign``, re-sign them. A
leaked ``SECRET_KEY`` still means that whoever holds it can run code in akjobd; see
docs/security.md.
"""

from __future__ import annotations

import hmac
import inspect
import keyword
import pickle
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.utils.crypto import salted_hmac
from django.utils.module_loading import import_string

from akjob.exceptions import InvalidJobCode, JobCodeError, SignatureError

MAGIC = b"akjob"
FORMAT = b"2"
UNBOUND = b"1"  # the first format: signed over the Python version and the pickle only
NO_JOB = b"-"  # the job id in a blob signed for a job not saved yet
SALT = "akjob.codeobjects.JobCodeObject"
PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}".encode()


class JobCallable:
    """A job code object that calls ``callable(*args, **kwargs)``.

    ``callable`` may be any picklable callable, or a dotted path string (``"app.tasks.report"``)
    that is imported when the job runs, so that changing the function needs no re-pickling. A
    path must have the shape of one (dotted Python names); what it names is imported when the job
    runs, not here. Anything else raises :class:`InvalidJobCode` with the reason.
    """

    def __init__(self, callable: Callable[..., Any] | str, *args: Any, **kwargs: Any) -> None:  # noqa: A002
        if isinstance(callable, str):
            _check_path(callable)
        elif not hasattr(callable, "__call__"):  # noqa: B004
            raise InvalidJobCode(
                f"JobCallable needs a callable or a dotted path, not {callable!r} "
                f"(a {type(callable).__name__}, which cannot be called)"
            )
        self.callable = callable
        self.args = args
        self.kwargs = kwargs

    def resolve(self) -> Callable[..., Any]:
        """The callable itself (imported when it is given by dotted path)."""
        if isinstance(self.callable, str):
            return import_string(self.callable)
        return self.callable

    def run(self, ownjob: Any = None) -> Any:
        return self.resolve()(*self.args, **self.kwargs)

    def __repr__(self) -> str:
        name = self.callable if isinstance(self.callable, str) else _qualname(self.callable)
        parts = [repr(a) for a in self.args] + [f"{k}={v!r}" for k, v in self.kwargs.items()]
        return f"JobCallable({name}{''.join(', ' + p for p in parts)})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, JobCallable):
            return NotImplemented
        return (self.callable, self.args, self.kwargs) == (other.callable, other.args, other.kwargs)

    __hash__ = None  # type: ignore[assignment]


def _check_path(path: str) -> None:
    """Refuse a string that cannot be a dotted path to a function: ``"module.function"``."""
    parts = path.split(".")
    if len(parts) < 2 or not all(p.isidentifier() and not keyword.iskeyword(p) for p in parts):
        raise InvalidJobCode(
            f"JobCallable needs a dotted path such as 'app.tasks.report', not {path!r}"
        )


def _qualname(obj: Any) -> str:
    module = getattr(obj, "__module__", None) or ""
    name = getattr(obj, "__qualname__", None) or repr(obj)
    return f"{module}.{name}" if module and module != "builtins" else name


@dataclass(frozen=True)
class Stored:
    """A stored blob, split into its parts (nothing verified yet)."""

    format: bytes
    python: bytes
    job: bytes  # b"" in the first format
    version: bytes  # b"" in the first format
    mac: bytes
    data: bytes

    def message(self) -> bytes:
        """What the HMAC covers."""
        if self.format == UNBOUND:
            return b":".join([self.format, self.python, self.data])
        return b":".join([self.format, self.python, self.job, self.version, self.data])


@dataclass(frozen=True)
class Verified:
    """A blob whose signature and binding checked out."""

    stored: Stored
    signer: int  # 0 for SECRET_KEY, 1… for the fallbacks

    @property
    def current(self) -> bool:
        """Whether the blob is as :func:`sign` writes it now: this format, SECRET_KEY, this
        Python (then saving its object unchanged need not sign it again)."""
        stored = self.stored
        return self.signer == 0 and stored.format == FORMAT and stored.python == PYTHON


def _mac(message: bytes, key: str | bytes) -> bytes:
    return salted_hmac(SALT, message, secret=key, algorithm="sha256").hexdigest().encode()


def _keys() -> list[str | bytes]:
    return [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]


def _job_bytes(job: int | None) -> bytes:
    return NO_JOB if job is None else str(int(job)).encode()


def check_code_object(obj: Any) -> None:
    """Raise :class:`InvalidJobCode` unless ``obj`` can run as a job: an instance (not a class)
    with a callable ``run`` that takes ``ownjob``."""
    if isinstance(obj, type):
        raise InvalidJobCode(
            f"a job code object must be an instance; {obj.__qualname__} is a class "
            f"(assign {obj.__qualname__}() instead)"
        )
    run = getattr(obj, "run", None)
    if not callable(run):
        raise InvalidJobCode(
            f"a job code object needs a callable run(ownjob) method; {type(obj).__name__} has none"
        )
    try:
        signature = inspect.signature(run)
    except (TypeError, ValueError):  # builtins without a signature: the run will tell
        return
    try:
        signature.bind(ownjob=None)
    except TypeError as exc:
        raise InvalidJobCode(
            f"{type(obj).__name__}.run{signature} cannot be called as run(ownjob=job): {exc}"
        ) from exc


def pickled(obj: Any) -> bytes:
    """The pickle of a job code object; raise :class:`InvalidJobCode` with the reason."""
    check_code_object(obj)
    try:
        return pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:  # pickle raises many types: PicklingError, TypeError, AttributeError
        raise InvalidJobCode(f"the job code object cannot be pickled: {exc}") from exc


def sign(data: bytes, *, job: int | None, version: int, python: bytes = PYTHON) -> bytes:
    """A blob of the pickle ``data``, signed with SECRET_KEY for ``job`` (None: not saved yet)
    at ``version``. ``python``: the Python version that pickled ``data``."""
    stored = Stored(FORMAT, python, _job_bytes(job), str(int(version)).encode(), b"", data)
    mac = _mac(stored.message(), settings.SECRET_KEY)
    return b":".join([MAGIC, FORMAT, python, stored.job, stored.version, mac, data])


def dumps(obj: Any, *, job: int | None = None, version: int = 0) -> bytes:
    """Pickle and sign a job code object for ``job`` at ``version``."""
    return sign(pickled(obj), job=job, version=version)


def split(blob: bytes | memoryview) -> Stored:
    """The parts of a stored blob, or :class:`SignatureError` when it is not in akjob's format."""
    blob = bytes(blob)
    parts = blob.split(b":", 6)
    if len(parts) >= 5 and parts[0] == MAGIC and parts[1] == UNBOUND:
        parts = blob.split(b":", 4)
        return Stored(UNBOUND, parts[2], b"", b"", parts[3], parts[4])
    if len(parts) != 7 or parts[0] != MAGIC or parts[1] != FORMAT:
        raise SignatureError("the stored job code object is not in akjob's signed format")
    return Stored(*parts[1:])


def _signed_by(stored: Stored) -> int | None:
    """Which key signed the blob: 0 for SECRET_KEY, 1… for the fallbacks; None if none did."""
    message = stored.message()
    for index, key in enumerate(_keys()):
        if hmac.compare_digest(stored.mac, _mac(message, key)):
            return index
    return None


def check(
    blob: bytes | memoryview, *, job: int | None, version: int, unbound: bool = False
) -> Verified:
    """Verify a blob stored for ``job`` at ``version``, or raise :class:`SignatureError` saying
    why. ``unbound``: also accept the first format, bound to nothing (for re-signing it)."""
    stored = split(blob)
    signer = _signed_by(stored)
    if signer is None:
        raise SignatureError(
            "the job code object's signature does not verify (tampered with, or signed with "
            "another SECRET_KEY); it was not unpickled"
        )
    if stored.format == UNBOUND:
        if unbound:
            return Verified(stored, signer)
        raise SignatureError(
            "the job code object is signed in akjob's first format, which does not bind it to "
            "its job; it was not unpickled (re-sign it with: manage.py akjobd resign)"
        )
    if stored.job != _job_bytes(job):
        owner = "a job not saved yet" if stored.job == NO_JOB else f"job {stored.job.decode()}"
        raise SignatureError(
            f"the job code object was signed for {owner}, not for job {job} (copied from "
            "another job?); it was not unpickled"
        )
    if stored.version != str(int(version)).encode():
        raise SignatureError(
            f"the job code object is version {stored.version.decode()} but job {job} is at "
            f"version {version} (an older code object put back?); it was not unpickled"
        )
    return Verified(stored, signer)


def verify(blob: bytes | memoryview, *, job: int | None, version: int) -> bool:
    """True if the blob's signature verifies with SECRET_KEY or a fallback, for ``job`` at
    ``version``."""
    try:
        check(blob, job=job, version=version)
    except SignatureError:
        return False
    return True


def loads(blob: bytes | memoryview, *, job: int | None, version: int) -> Any:
    """Verify, then unpickle, a job code object stored for ``job`` at ``version``."""
    return load(blob, job=job, version=version)[0]


def load(blob: bytes | memoryview, *, job: int | None, version: int) -> tuple[Any, bool]:
    """Verify, then unpickle, a job code object stored for ``job`` at ``version``; also say
    whether the blob is :attr:`Verified.current`, so that saving the object unchanged need not
    sign it again."""
    verified = check(blob, job=job, version=version)
    python = verified.stored.python
    try:
        obj = pickle.loads(verified.stored.data)  # noqa: S301 - the signature was verified above
    except Exception as exc:
        if python != PYTHON:
            raise JobCodeError(
                f"the job code object was written by Python {python.decode()} and cannot be "
                f"loaded by Python {PYTHON.decode()} (incompatible): {exc}"
            ) from exc
        raise JobCodeError(f"the job code object cannot be unpickled: {exc}") from exc
    return obj, verified.current
