"""The job function registry: the functions the admin offers as a job's code.

Two ways in, both by dotted path:

- the decorator ``@akjob.job_function`` (or ``@akjob.job_function(name="Nightly report")``),
  which registers a module-level function when its module is imported;
- the setting ``AKJOB_JOB_FUNCTIONS``, a list of dotted paths (read when asked for, never at
  import time).

A job made from a registered function stores ``JobCallable("app.tasks.report", *args, **kwargs)``:
the path and plain arguments, resolved when the job runs. This module imports no models, so
``akjob/__init__.py`` can re-export the decorator.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, overload

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

__all__ = ["JobFunction", "check_arguments", "get", "job_function", "registered", "resolve"]

F = TypeVar("F", bound=Callable[..., Any])
SETTING = "AKJOB_JOB_FUNCTIONS"

_decorated: dict[str, str] = {}  # dotted path -> label


@dataclass(frozen=True)
class JobFunction:
    """A registered function: its dotted path and the label the admin shows."""

    path: str
    label: str

    def choice_label(self) -> str:
        return self.path if self.label == self.path else f"{self.label} ({self.path})"


def dotted_path(func: Callable[..., Any]) -> str:
    """The path ``JobCallable`` imports ``func`` by; refuse what cannot be imported by name."""
    module = getattr(func, "__module__", None)
    qualname = getattr(func, "__qualname__", None)
    if not module or not qualname or "<" in qualname or "." in qualname:
        raise ImproperlyConfigured(
            f"job_function registers module-level functions only; {func!r} cannot be "
            "imported by a dotted path"
        )
    return f"{module}.{qualname}"


@overload
def job_function(func: F, /) -> F: ...
@overload
def job_function(*, name: str | None = None) -> Callable[[F], F]: ...


def job_function(func: F | None = None, /, *, name: str | None = None) -> F | Callable[[F], F]:
    """Register a module-level function as a job function (bare, or with ``name=`` as label).

    The function is returned unchanged. It is registered when its module is imported, so import
    that module at start-up (e.g. in your ``AppConfig.ready()``), or list the function in
    ``AKJOB_JOB_FUNCTIONS`` instead.
    """

    def register(function: F) -> F:
        if not callable(function):
            raise ImproperlyConfigured(f"job_function needs a function, not {function!r}")
        path = dotted_path(function)
        _decorated[path] = name or path
        return function

    if func is not None:
        return register(func)
    return register


def add(path: str, label: str) -> None:
    """Register the function at ``path`` (``@akjob.scheduled`` registers what it declares); a
    label given by ``@job_function`` stays."""
    _decorated.setdefault(path, label)


def _from_setting() -> dict[str, str]:
    paths = getattr(settings, SETTING, None) or []
    if isinstance(paths, str) or not all(isinstance(p, str) for p in paths):
        raise ImproperlyConfigured(f"{SETTING} must be a list of dotted paths (strings)")
    return {path: path for path in paths}


def registered() -> list[JobFunction]:
    """Every registered function, sorted by label; decorator labels win over the setting's."""
    merged = _from_setting() | _decorated
    return sorted((JobFunction(p, label) for p, label in merged.items()), key=_sort_key)


def _sort_key(function: JobFunction) -> tuple[str, str]:
    return function.label.lower(), function.path


def get(path: str) -> JobFunction | None:
    """The registered function with this path, or None (unregistered paths are not offered)."""
    return next((f for f in registered() if f.path == path), None)


def resolve(path: str) -> Callable[..., Any]:
    """Import a *registered* function; ``LookupError`` for anything else, ``ImportError`` when
    the registered path does not import, ``TypeError`` when it is not callable."""
    if get(path) is None:
        raise LookupError(f"{path} is not a registered job function")
    function = import_string(path)
    if not callable(function):
        raise TypeError(f"{path} is not callable")
    return function


def check_arguments(function: Callable[..., Any], args: list[Any], kwargs: dict[str, Any]) -> None:
    """Raise ``TypeError`` saying why ``function(*args, **kwargs)`` would not bind."""
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):  # builtins without a signature: accept, the run will tell
        return
    try:
        signature.bind(*args, **kwargs)
    except TypeError as exc:
        plain = signature.replace(
            parameters=[p.replace(annotation=p.empty) for p in signature.parameters.values()],
            return_annotation=signature.empty,
        )
        raise TypeError(f"the arguments do not fit {function.__name__}{plain}: {exc}") from exc
