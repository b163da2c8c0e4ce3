"""Job code objects: :class:`JobCallable`, and the signed pickles they are stored as.

A stored code object is ``akjob:1:<python major.minor>:<hex HMAC-SHA256>:<pickle>``. The HMAC is
keyed from ``SECRET_KEY`` (``SECRET_KEY_FALLBACKS`` are accepted when verifying) and covers the
version and the pickle, and it is checked before a single byte is unpickled: a row written by
someone without the key is refused, never executed. A leaked ``SECRET_KEY`` still means that
whoever holds it can run code in akjobd; see docs/security.md.
"""

from __future__ import annotations

import hmac
import pickle
import sys
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.utils.crypto import salted_hmac
from django.utils.module_loading import import_string

from akjob.exceptions import InvalidJobCode, JobCodeError, SignatureError

MAGIC = b"akjob"
FORMAT = b"1"
SALT = "akjob.codeobjects.JobCodeObject"
PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}".encode()


class JobCallable:
    """A job code object that calls ``callable(*args, **kwargs)``.

    ``callable`` may be any picklable callable, or a dotted path string (``"app.tasks.report"``)
    that is imported when the job runs, so that changing the function needs no re-pickling.
    """

    def __init__(self, callable: Callable[..., Any] | str, *args: Any, **kwargs: Any) -> None:  # noqa: A002
        if not (isinstance(callable, str) or hasattr(callable, "__call__")):  # noqa: B004
            raise InvalidJobCode(f"JobCallable needs a callable or a dotted path, not {callable!r}")
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


def _qualname(obj: Any) -> str:
    module = getattr(obj, "__module__", None) or ""
    name = getattr(obj, "__qualname__", None) or repr(obj)
    return f"{module}.{name}" if module and module != "builtins" else name


def _mac(message: bytes, key: str | bytes) -> bytes:
    return salted_hmac(SALT, message, secret=key, algorithm="sha256").hexdigest().encode()


def _keys() -> list[str | bytes]:
    return [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]


def dumps(obj: Any, current: bytes | None = None) -> bytes:
    """Pickle and sign a job code object; raise :class:`InvalidJobCode` with the reason.

    ``current``: a blob of this object as :func:`dumps` writes it now (see :func:`load`); when
    the object pickles to the same bytes, that blob is returned without signing again.
    """
    if not callable(getattr(obj, "run", None)):
        raise InvalidJobCode(
            f"a job code object needs a callable run(ownjob) method; {type(obj).__name__} has none"
        )
    try:
        data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:  # pickle raises many types: PicklingError, TypeError, AttributeError
        raise InvalidJobCode(f"the job code object cannot be pickled: {exc}") from exc
    if current is not None and split(current)[2] == data:
        return current
    mac = _mac(FORMAT + b":" + PYTHON + b":" + data, settings.SECRET_KEY)
    return b":".join([MAGIC, FORMAT, PYTHON, mac, data])


def split(blob: bytes | memoryview) -> tuple[bytes, bytes, bytes]:
    """Return (python version, mac, pickle) of a stored blob, or raise :class:`SignatureError`."""
    blob = bytes(blob)
    parts = blob.split(b":", 4)
    if len(parts) != 5 or parts[0] != MAGIC or parts[1] != FORMAT:
        raise SignatureError("the stored job code object is not in akjob's signed format")
    return parts[2], parts[3], parts[4]


def verify(blob: bytes | memoryview) -> bool:
    """True if the blob's signature verifies with SECRET_KEY or one of its fallbacks."""
    return _signed_by(blob) is not None


def _signed_by(blob: bytes | memoryview) -> int | None:
    """Which key signed the blob: 0 for SECRET_KEY, 1… for the fallbacks; None if none did."""
    try:
        version, mac, data = split(blob)
    except SignatureError:
        return None
    message = FORMAT + b":" + version + b":" + data
    for index, key in enumerate(_keys()):
        if hmac.compare_digest(mac, _mac(message, key)):
            return index
    return None


def loads(blob: bytes | memoryview) -> Any:
    """Verify, then unpickle, a stored job code object."""
    return load(blob)[0]


def load(blob: bytes | memoryview) -> tuple[Any, bool]:
    """Verify, then unpickle, a stored job code object; also say whether the blob is as
    :func:`dumps` writes it now (signed with SECRET_KEY, by this Python), so that saving the
    object unchanged need not sign it again."""
    version, _mac_, data = split(blob)
    signer = _signed_by(blob)
    if signer is None:
        raise SignatureError(
            "the job code object's signature does not verify (tampered with, or signed with "
            "another SECRET_KEY); it was not unpickled"
        )
    try:
        obj = pickle.loads(data)  # noqa: S301 - the signature was verified above
    except Exception as exc:
        if version != PYTHON:
            raise JobCodeError(
                f"the job code object was written by Python {version.decode()} and cannot be "
                f"loaded by Python {PYTHON.decode()} (incompatible): {exc}"
            ) from exc
        raise JobCodeError(f"the job code object cannot be unpickled: {exc}") from exc
    return obj, signer == 0 and version == PYTHON
