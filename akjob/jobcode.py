"""How :meth:`akjob.models.Job.save` writes a job's code object (docs/api.md, docs/security.md).

The code blob is signed at save time, for the job's id and for the next version of its code
object (a job has no id before its first save). Two kinds of change are written differently:

- a code object the user assigned (``job.job_code_object = X``, or None) always wins: it is
  written whatever the row holds, as the row's version plus one;
- a change to the code object this instance *loaded* (a run changed its own state, or a blob
  signed with a fallback key is signed again) is written only if the row still holds the blob
  and version this instance loaded, a compare-and-set in the UPDATE. If someone replaced the
  code object meanwhile, the replacement stays, the instance's other changed fields are saved
  all the same, and ``job._code_dropped`` is True after the save.

An unchanged code object writes nothing and signs nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from akjob import codeobjects
from akjob.exceptions import SignatureError

if TYPE_CHECKING:
    from akjob.models import Job

CODE_FIELDS = frozenset({"_job_code", "_code_version"})
ASSIGNED = "_code_assigned"  # in a job's __dict__: the user assigned job_code_object
OBJECT = "_code_object"  # the unpickled (or assigned) code object
CURRENT = "_code_current"  # the blob the loaded object came from, when it needs no new signature


@dataclass(frozen=True)
class CodeWrite:
    """What a save writes: the pickle to sign (None clears the code object), the Python that
    pickled it, and whether the user assigned it (it then wins over the row)."""

    data: bytes | None
    explicit: bool
    python: bytes = codeobjects.PYTHON


def assign(job: Job, obj: Any) -> None:
    """``job.job_code_object = obj``: check it now (raise :class:`InvalidJobCode` with the
    reason), and keep it to be signed when the job is saved."""
    job.__dict__.pop(CURRENT, None)
    if obj is None:
        job._job_code = None
        job.__dict__.pop(OBJECT, None)
    else:
        # Signed for the instance as it stands, so that reading it back before the save
        # verifies; the save signs it again for the job's id and its next version.
        job._job_code = codeobjects.dumps(obj, job=job.pk, version=job._code_version)
        job.__dict__[OBJECT] = obj
    job.__dict__[ASSIGNED] = True


def planned(job: Job, *, adding: bool) -> CodeWrite | None:
    """What ``job.save()`` must write of the code object, or None for nothing."""
    state = job.__dict__
    if state.get(ASSIGNED):
        obj = state.get(OBJECT)
        return CodeWrite(None if obj is None else codeobjects.pickled(obj), explicit=True)
    if OBJECT in state:  # loaded (or handed back by a run): its own state may have changed
        data = codeobjects.pickled(state[OBJECT])
        current = state.get(CURRENT)
        if current is not None and codeobjects.split(current).data == data:
            return None
        return CodeWrite(data, explicit=adding)
    if adding and job._job_code is not None:
        return _copied(job)
    return None


def _copied(job: Job) -> CodeWrite | None:
    """A new row made from a loaded one (``job.pk = None; job.save()``): its blob is signed for
    the new row if it verifies for the row it was loaded from; otherwise it is stored as it is
    (and refused when it would run), never signed for the first time here."""
    loaded = getattr(job, "_loaded", {})
    try:
        verified = codeobjects.check(
            job._job_code,
            job=loaded.get("id"),
            version=loaded.get("_code_version", job._code_version),
        )
    except SignatureError:
        return None
    return CodeWrite(verified.stored.data, explicit=True, python=verified.stored.python)


def write(job: Job, plan: CodeWrite, *, using: str | None) -> None:
    """Write ``plan`` for the saved row of ``job`` (inside the save's transaction)."""
    rows = type(job)._base_manager.db_manager(using).filter(pk=job.pk)
    loaded = getattr(job, "_loaded", {})
    if plan.explicit:
        row_version = rows.select_for_update().values_list("_code_version", flat=True).first()
        version = (row_version or 0) + 1
        guarded = rows
    else:
        before = loaded.get("_code_version", job._code_version)
        version = before + 1
        blob_before = loaded.get("_job_code")
        guarded = rows.filter(
            _code_version=before,
            _job_code=None if blob_before is None else bytes(blob_before),
        )
    blob = None
    if plan.data is not None:
        blob = codeobjects.sign(plan.data, job=job.pk, version=version, python=plan.python)
    if guarded.update(_job_code=blob, _code_version=version):
        _now_holds(job, blob, version)
        if blob is not None and plan.python == codeobjects.PYTHON:
            job.__dict__[CURRENT] = blob
        return
    job._code_dropped = True
    row = rows.values_list("_job_code", "_code_version").first() or (None, version)
    _now_holds(job, row[0], row[1])
    job.__dict__.pop(OBJECT, None)  # read again, from the row, when next asked for


def _now_holds(job: Job, blob: Any, version: int) -> None:
    """The instance, and what it remembers as loaded, now hold this blob and version."""
    blob = None if blob is None else bytes(blob)
    job._job_code, job._code_version = blob, version
    job.__dict__.pop(ASSIGNED, None)
    job.__dict__.pop(CURRENT, None)
    if hasattr(job, "_loaded"):
        job._loaded.update(_job_code=blob, _code_version=version)


def named(kwargs: dict[str, Any], plan: CodeWrite | None) -> CodeWrite | None:
    """``save(update_fields=…)``: the code object is written only when the list names it
    (``job_code_object`` or ``_job_code``); the plain UPDATE then leaves its fields out."""
    names = list(kwargs["update_fields"])
    if plan is None or not {*CODE_FIELDS, "job_code_object"} & set(names):
        plan = None
        kwargs["update_fields"] = [n for n in names if n != "job_code_object"]
    else:
        kwargs["update_fields"] = [n for n in names if n not in {*CODE_FIELDS, "job_code_object"}]
    return plan
