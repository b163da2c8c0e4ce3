"""What a job's stored code object calls, read without running it.

The admin shows a job's function and arguments. The stored pickle is read by an unpickler that
imports nothing and calls nothing of the pickle's choosing: every class or function the pickle
names is replaced by an inert stand-in that only remembers its name and arguments. So a
``JobCallable`` made from a dotted path and JSON arguments reads back as exactly that, and any
other code object is shown by the names it refers to. Only blobs whose signature verifies are
read at all (docs/security.md).
"""

from __future__ import annotations

import io
import json
import pickle
from dataclasses import dataclass, field
from typing import Any

from akjob import codeobjects, registry
from akjob.exceptions import SignatureError

CALLABLE = ("akjob.codeobjects", "JobCallable")


class StandIn:
    """An inert object in place of a class or function a pickle names."""

    module = ""
    name = ""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.made_with = args

    def __setstate__(self, state: Any) -> None:
        self.state = state

    @classmethod
    def dotted(cls) -> str:
        return f"{cls.module}.{cls.name}"


class _Call:
    """Stands in for JobCallable: the pickle's state lands in its ``__dict__``."""

    callable: Any = None
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = {}  # noqa: RUF012 - replaced, never mutated


class _InertUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == CALLABLE:
            return _Call
        return type(name, (StandIn,), {"module": module, "name": name})


@dataclass
class StoredCode:
    """A job's code object as the admin shows it."""

    state: str  # "none", "ok" or "invalid"
    size: int = 0
    path: str = ""  # the dotted path it calls ("" when it does not read as a JobCallable)
    args: list[Any] = field(default_factory=list)
    kwargs: dict[str, Any] = field(default_factory=dict)
    json_arguments: bool = False  # the arguments are plain JSON values
    problem: str = ""

    @property
    def editable(self) -> bool:
        """Whether the job form can show it as a registered function with JSON arguments."""
        return bool(self.path) and self.json_arguments and registry.get(self.path) is not None

    def label(self) -> str:
        function = registry.get(self.path) if self.path else None
        if function is None:
            return self.path
        return function.choice_label()

    def summary(self) -> str:
        """One line: ``Send report: send_report("ops", copies=2)`` or why it cannot be shown."""
        if self.state == "none":
            return "no code object: the job has nothing to run"
        if self.state == "invalid":
            return f"signature INVALID, the job will not be run: {self.problem}"
        if not self.path:
            return f"a code object made in Python ({self.problem})"
        return f"{self.label()}: {call_text(self.path, self.args, self.kwargs)}"


def call_text(path: str, args: list[Any], kwargs: dict[str, Any]) -> str:
    """``send_report("ops", copies=2)``: a call as Python would read it, arguments as JSON."""
    shown = [_value(a) for a in args] + [f"{k}={_value(v)}" for k, v in kwargs.items()]
    return f"{path.rsplit('.', 1)[-1]}({', '.join(shown)})"


def _value(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value) if not isinstance(value, StandIn) else type(value).dotted()


def read(blob: bytes | memoryview | None, *, job: int | None, version: int) -> StoredCode:
    """The stored code of ``job``, verified, then read inertly."""
    if blob is None:
        return StoredCode("none")
    size = len(bytes(blob))
    try:
        verified = codeobjects.check(blob, job=job, version=version)
    except SignatureError as exc:
        return StoredCode("invalid", size, problem=str(exc))
    try:
        obj = _InertUnpickler(io.BytesIO(verified.stored.data)).load()
    except Exception as exc:  # a pickle can fail in many ways; none of it ran any code
        return StoredCode("ok", size, problem=f"it cannot be read here: {exc}")
    if not isinstance(obj, _Call):
        kind = type(obj).dotted() if isinstance(obj, StandIn) else ""
        return StoredCode("ok", size, problem=kind or "not a JobCallable")
    target = obj.callable
    if isinstance(target, type) and issubclass(target, StandIn):
        path = target.dotted()
    elif isinstance(target, str):
        path = target
    else:
        return StoredCode("ok", size, problem="its function cannot be read here")
    args, kwargs = list(obj.args), dict(obj.kwargs)
    plain = _plain(args) and _plain(kwargs)
    return StoredCode(
        "ok", size, path, args, kwargs, json_arguments=plain and isinstance(target, str)
    )


def _plain(value: Any) -> bool:
    """Whether ``value`` is made of JSON's values only (and reads back equal)."""
    try:
        return json.loads(json.dumps(value)) == value
    except (TypeError, ValueError, RecursionError):
        return False


def formatted(value: Any) -> str:
    """JSON for a form field: on one line when short, indented when long."""
    if not value:
        return ""
    one_line = json.dumps(value, ensure_ascii=False)
    if len(one_line) <= 60:
        return one_line
    return json.dumps(value, ensure_ascii=False, indent=2)
