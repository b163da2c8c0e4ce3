"""The errors akjob raises. Everything derives from :class:`AkjobError`, except
:class:`InvalidSchedule` (a ``ValueError`` of the pure schedule engine; the models report it as a
``ValidationError`` on the field it names)."""

from __future__ import annotations

from django.core.exceptions import ValidationError

from akjob.schedule.errors import InvalidSchedule

__all__ = [
    "AkjobError",
    "DaemonAlreadyRunning",
    "DaemonError",
    "DaemonNotRunning",
    "DatabaseGone",
    "InvalidJobCode",
    "InvalidSchedule",
    "JobCodeError",
    "JobNotFound",
    "SignatureError",
]


class AkjobError(Exception):
    """Base class of akjob's own errors."""


class JobCodeError(AkjobError):
    """A job code object cannot be stored or loaded (not picklable, no run(), bad signature)."""


class InvalidJobCode(JobCodeError, ValidationError):
    """Raised at assignment of ``job_code_object``: the object cannot be stored."""

    def __init__(self, message: str) -> None:
        ValidationError.__init__(self, {"job_code_object": [message]})


class SignatureError(JobCodeError):
    """A stored job code object failed its signature check and was not unpickled."""


class DaemonError(AkjobError):
    """akjobd cannot do what was asked."""


class DaemonAlreadyRunning(DaemonError):
    """Another akjobd holds the pid file (or, on SQLite, the database)."""


class DaemonNotRunning(DaemonError):
    """No akjobd is running for this pid file."""


class DatabaseGone(DaemonError):
    """akjob's database is not there any more (an SQLite file deleted or replaced, its tables
    dropped): akjobd stops rather than run on against nothing."""


class JobNotFound(AkjobError):
    """No job has the given id."""
