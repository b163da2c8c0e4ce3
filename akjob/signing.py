"""Signing stored job code objects in bulk (docs/security.md).

- :func:`resign_all`, behind ``manage.py akjobd resign``: after a ``SECRET_KEY`` rotation, every
  row whose code object verifies with the current key or a fallback is signed with the current
  key; rows that verify with neither are listed and left as they are. Blobs of akjob's first
  format (not bound to their job) are signed in the current one. Nothing is unpickled: a
  signature covers the pickle's bytes, which are kept as they are.
- :func:`sign_rows`: one code object for many jobs inserted without ``Job.save()``
  (``bulk_create``, raw inserts), each signed for its own row.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from akjob import codeobjects
from akjob.daemon.runtime import EXIT_FAILED, EXIT_OK, Outcome
from akjob.exceptions import SignatureError

CHUNK = 200  # rows read per statement
ATTEMPTS = 5  # a row changed by a save meanwhile is read again, this many times at most


@dataclass
class ResignReport:
    """What :func:`resign_all` did: jobs signed again, jobs already signed with the current key,
    and (job id, reason) of the jobs left as they are."""

    resigned: list[int] = field(default_factory=list)
    current: list[int] = field(default_factory=list)
    left: list[tuple[int, str]] = field(default_factory=list)

    def outcome(self) -> Outcome:
        """The command's one-line message and exit status (1 when some row was left)."""
        done = (
            f"{len(self.resigned)} job code object(s) signed with the current SECRET_KEY, "
            f"{len(self.current)} already were."
        )
        if not self.left:
            return Outcome(EXIT_OK, done)
        ids = ", ".join(str(pk) for pk, _ in self.left)
        return Outcome(
            EXIT_FAILED,
            f"{done} {len(self.left)} job code object(s) verify with neither SECRET_KEY nor a "
            f"fallback and were left as they are (jobs {ids}); their runs fail until each job "
            "gets its code object again",
        )

    def listing(self) -> list[str]:
        """One line per job left as it is: its id and why."""
        return [f"job {pk}: {reason}" for pk, reason in self.left]


def _job_model() -> Any:
    from akjob.models import Job

    return Job


def resign_all(model: Any = None, *, using: str | None = None) -> ResignReport:
    """Sign every stored code object with the current ``SECRET_KEY`` (see the module's doc).

    ``model``: the Job model (a migration passes its historical one). Each row is written with a
    compare-and-set on its blob and version, so a job saved meanwhile keeps what its save wrote.
    """
    model = model or _job_model()
    rows = model._base_manager.db_manager(using).exclude(_job_code__isnull=True)
    ids = list(rows.order_by("pk").values_list("pk", flat=True))
    report = ResignReport()
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        found = rows.filter(pk__in=chunk).values_list("pk", "_job_code", "_code_version")
        for pk, blob, version in found:
            _resign_row(rows, pk, blob, version, report)
    return report


def _resign_row(rows: Any, pk: int, blob: Any, version: int, report: ResignReport) -> None:
    for _ in range(ATTEMPTS):
        if blob is None:
            return  # cleared meanwhile
        blob = bytes(blob)
        try:
            verified = codeobjects.check(blob, job=pk, version=version, unbound=True)
        except SignatureError as exc:
            report.left.append((pk, str(exc)))
            return
        if verified.signer == 0 and verified.stored.format == codeobjects.FORMAT:
            report.current.append(pk)
            return
        stored = verified.stored
        new = codeobjects.sign(stored.data, job=pk, version=version + 1, python=stored.python)
        row = rows.filter(pk=pk, _code_version=version, _job_code=blob)
        if row.update(_job_code=new, _code_version=version + 1):
            report.resigned.append(pk)
            return
        fresh = rows.filter(pk=pk).values_list("_job_code", "_code_version").first()
        if fresh is None:
            return  # deleted meanwhile
        blob, version = fresh
    report.left.append((pk, f"changed by {ATTEMPTS} saves while being signed; run resign again"))


def sign_rows(code: Any, ids: Iterable[int], *, using: str | None = None) -> int:
    """Give the jobs ``ids`` the code object ``code``, each signed for its own row and the next
    version of its code; for jobs inserted in bulk, which ``Job.save()`` never signed. Returns
    the number of jobs written. Raises :class:`InvalidJobCode` when ``code`` cannot be stored."""
    model = _job_model()
    data = codeobjects.pickled(code)
    manager = model._base_manager.db_manager(using)
    written = 0
    ids = list(ids)
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        jobs = list(manager.filter(pk__in=chunk).only("pk", "_code_version"))
        for job in jobs:
            job._code_version += 1
            job._job_code = codeobjects.sign(data, job=job.pk, version=job._code_version)
        manager.bulk_update(jobs, ["_job_code", "_code_version"])
        written += len(jobs)
    return written
