"""Schedules declared in code: the ``@akjob.scheduled`` decorator and the ``AKJOB_SCHEDULES``
setting (see docs/schedules-in-code.md).

Declaring records the options as given and never raises: the options are read and checked when
asked for (``manage.py check``, a sync), so a bad declaration is reported by the system checks,
naming the function and the option, and never stops a process from importing the module.

Each declaration has a stable key: the function's dotted path by default, ``key=`` to choose
one, or the setting's dict key. :mod:`akjob.sync` keeps one job per key in the database.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any, TypeVar

from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.utils.module_loading import autodiscover_modules, import_string

from akjob import durations, registry
from akjob.conf import akjob_settings

__all__ = ["Declaration", "Invalid", "collect", "scheduled"]

F = TypeVar("F", bound=Callable[..., Any])
SETTING = "AKJOB_SCHEDULES"
# Modules of every installed app imported before declarations are read, so that a process
# syncing sees the same declarations whichever modules it happened to import.
DISCOVERED = ("jobs", "tasks")
KEY_LENGTH = 200

# Model fields a declaration sets, with their value when the declaration leaves them out.
SCALARS: dict[str, Any] = {
    "name": "",
    "run_every": None,
    "monthly_time": None,
    "monthly_time_tz_offset_timedelta": timedelta(0),
    "weekly_time": None,
    "weekly_time_tz_offset_timedelta": timedelta(0),
    "cron": "",
    "timezone": "",
    "run_count_limit": None,
    "active_time_begin": None,
    "active_time_end": None,
    "active_time_tz_offset_timedelta": timedelta(0),
    "active_date_begin": None,
    "active_date_end": None,
    "misfire_grace": None,
    "timeout": None,
    "month_positions": "",
    "exclude_dates": "",
    "holidays": "",
    "business_days_only": False,
    "jitter": None,
    "catch_up": "once",
    "overlap": "skip",
    "max_instances": 1,
    "retries": 0,
    "retry_backoff": timedelta(seconds=10),
    "retry_backoff_factor": 2.0,
    "retry_backoff_max": timedelta(hours=1),
    "alert_after": None,
    "first_run_at": None,
}
LISTS = (
    "monthly_days",
    "weekly_days",
    "active_monthly_days",
    "active_weekly_days",
    "active_months",
)
DURATION_FIELDS = {
    "run_every",
    "timeout",
    "misfire_grace",
    "monthly_time_tz_offset_timedelta",
    "weekly_time_tz_offset_timedelta",
    "active_time_tz_offset_timedelta",
    "jitter",
    "alert_after",
    "retry_backoff",
    "retry_backoff_max",
}
TEXT_FIELDS = {"cron", "timezone", "name", "month_positions", "holidays", "catch_up", "overlap"}
WHOLE_NUMBERS = {"run_count_limit", "max_instances", "retries"}
TIME_FIELDS = {"monthly_time", "weekly_time", "active_time_begin", "active_time_end"}
DATE_FIELDS = {"active_date_begin", "active_date_end"}
# Shorter spellings: the option, and the model field (or pair of fields) it stands for.
ALIASES: dict[str, tuple[str, ...]] = {
    "every": ("run_every",),
    "active_time": ("active_time_begin", "active_time_end"),
    "active_dates": ("active_date_begin", "active_date_end"),
}
OTHER_OPTIONS = {"key", "dates", "enabled", "args", "kwargs", "function"}
OPTIONS = frozenset({*SCALARS, *LISTS, *ALIASES, *OTHER_OPTIONS})
SOURCES = ("cron", "run_every", "monthly_days", "weekly_days", "dates")


@dataclass(frozen=True)
class Declared:
    """A declaration as written: where it comes from and its options, not read yet."""

    key: str | None  # None: the function's dotted path
    target: Any  # the function (decorator) or its dotted path (setting)
    options: dict[str, Any]
    origin: str  # how messages name it

    def path(self) -> str:
        return self.target if isinstance(self.target, str) else _path_of(self.target)


@dataclass(frozen=True)
class Declaration:
    """A declaration read and checked: the job it stands for, field by field."""

    key: str
    path: str
    origin: str
    fields: dict[str, Any]  # model field -> value (every field of SCALARS)
    lists: dict[str, tuple[int, ...]]  # day set -> sorted days
    dates: tuple[datetime, ...]
    enabled: bool
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    is_task: bool = False

    def code(self) -> Any:
        """The job's code object: a TaskCall for a Django task, else a JobCallable by path."""
        if self.is_task:
            from akjob.tasks import TaskCall

            return TaskCall(import_string(self.path), *self.args, **self.kwargs)
        from akjob.codeobjects import JobCallable

        return JobCallable(self.path, *self.args, **self.kwargs)

    def code_identity(self) -> tuple[Any, ...]:
        """What identifies the code: its kind, path and arguments."""
        return ("task" if self.is_task else "call", self.path, list(self.args), self.kwargs)

    def recorded(self) -> str:
        """The declaration as stored on its job (JSON): what the code said at the last sync."""
        return json.dumps({"key": self.key, "path": self.path, "enabled": self.enabled})


@dataclass(frozen=True)
class Invalid:
    """A declaration that cannot be used: its key (when known), origin and the reason."""

    key: str | None
    origin: str
    message: str


_declared: list[Declared] = []


def scheduled(func: F | None = None, /, **options: Any) -> F | Callable[[F], F]:
    """Declare a schedule for a module-level function or Django task (see
    docs/schedules-in-code.md for every option). The function is returned unchanged, and a plain
    function joins the job function registry. Nothing is checked here: ``manage.py check``
    reports a bad declaration."""

    def declare(function: F) -> F:
        given = dict(options)
        key = given.pop("key", None)
        _declared.append(Declared(key, function, given, _origin(function)))
        if callable(function) and not _task(function):
            try:
                path = registry.dotted_path(function)
            except Exception:  # noqa: BLE001 - reported by the checks, never raised here
                return function
            registry.add(path, given.get("name") or path)
        return function

    if func is not None:
        return declare(func)
    return declare


def _path_of(function: Any) -> str:
    """The dotted path a declared function (or Django task) is imported by."""
    if _task(function):
        return str(function.module_path)
    try:
        return registry.dotted_path(function)
    except ImproperlyConfigured:
        raise ValueError(
            f"{function!r} is not a module-level function: a schedule needs a function that "
            "can be imported by its dotted path"
        ) from None


def _origin(function: Any) -> str:
    try:
        return _path_of(function)
    except Exception:  # noqa: BLE001 - any object: named as it prints
        return repr(function)


def _task(obj: Any) -> bool:
    from akjob.tasks import is_task

    return is_task(obj)


def _from_setting() -> tuple[list[Declared], list[Invalid]]:
    value = akjob_settings.schedules
    if not isinstance(value, dict):
        return [], [Invalid(None, SETTING, f"{SETTING} must be a dict keyed by name")]
    found, invalid = [], []
    for key, options in value.items():
        origin = f"{SETTING}[{key!r}]"
        if not isinstance(options, dict) or not isinstance(options.get("function"), str):
            message = "must be a dict of options with 'function', a dotted path"
            invalid.append(Invalid(str(key), origin, message))
            continue
        options = dict(options)
        found.append(Declared(str(key), options.pop("function"), options, origin))
    return found, invalid


def discover() -> None:
    """Import the modules that usually hold declarations (``jobs`` and ``tasks`` of every
    installed app)."""
    autodiscover_modules(*DISCOVERED)


def collect(*, discover_modules: bool = True) -> tuple[list[Declaration], list[Invalid]]:
    """Every declaration, read and checked: the valid ones, and the reasons for the others.
    A key declared twice is invalid in both places."""
    if discover_modules:
        discover()
    from_setting, invalid = _from_setting()
    valid: list[Declaration] = []
    for declared in [*_declared, *from_setting]:
        try:
            valid.append(read(declared))
        except ValidationError as exc:
            key = declared.key or _safe_path(declared)
            invalid.append(Invalid(key, declared.origin, "; ".join(_messages(exc))))
    counts: dict[str, int] = {}
    for declaration in valid:
        counts[declaration.key] = counts.get(declaration.key, 0) + 1
    twice = {key for key, n in counts.items() if n > 1}
    for declaration in valid:
        if declaration.key in twice:
            message = f"key {declaration.key!r} is declared more than once"
            invalid.append(Invalid(declaration.key, declaration.origin, message))
    return [d for d in valid if d.key not in twice], invalid


def _safe_path(declared: Declared) -> str | None:
    try:
        return declared.path()
    except Exception:  # noqa: BLE001 - no key can be made: reported with the origin only
        return None


def _messages(exc: ValidationError) -> list[str]:
    if hasattr(exc, "error_dict"):
        return [f"{name}: {m}" for name, errors in exc.message_dict.items() for m in errors]
    return list(exc.messages)


def _error(option: str, message: str) -> ValidationError:
    return ValidationError({option: [message]})


# -- reading one declaration -------------------------------------------------------------------


def read(declared: Declared) -> Declaration:
    """Read and check one declaration; ValidationError keyed by the option at fault."""
    options = dict(declared.options)
    unknown = sorted(set(options) - OPTIONS - {"key"})
    if unknown:
        raise _error(unknown[0], f"unknown option; use one of: {', '.join(sorted(OPTIONS))}")
    path, target = _target(declared)
    key = declared.key if declared.key is not None else path
    if not isinstance(key, str) or not key.strip() or len(key) > KEY_LENGTH:
        raise _error("key", f"must be a non-empty string of at most {KEY_LENGTH} characters")
    fields = dict(SCALARS)
    for option, value in options.items():
        if option in ALIASES:
            names = ALIASES[option]
            values = _pair(option, value) if len(names) == 2 else (value,)
            for name, item in zip(names, values, strict=True):
                fields[name] = _convert(name, item, option)
        elif option in SCALARS:
            fields[option] = _convert(option, value, option)
    fields["name"] = fields["name"] or key
    lists = {name: _days(name, options.get(name) or ()) for name in LISTS}
    dates = _dates(options.get("dates") or ())
    enabled = options.get("enabled", True)
    if not isinstance(enabled, bool):
        raise _error("enabled", f"must be True or False, not {enabled!r}")
    args, kwargs = options.get("args", ()), options.get("kwargs", {})
    if not isinstance(args, list | tuple) or not isinstance(kwargs, dict):
        raise _error("args", "args must be a list or tuple and kwargs a dict")
    declaration = Declaration(
        key,
        path,
        declared.origin,
        fields,
        lists,
        dates,
        enabled,
        tuple(args),
        dict(kwargs),
        is_task=_task(target),
    )
    _check_code(declaration, target)
    _check_schedule(declaration)
    return declaration


def _target(declared: Declared) -> tuple[str, Any]:
    """The dotted path of the declared function, and the object it imports as."""
    try:
        path = declared.path()
    except Exception as exc:  # noqa: BLE001 - whatever was decorated, say why it cannot be
        raise _error("function", str(exc)) from exc
    try:
        target = import_string(path)
    except ImportError as exc:
        raise _error("function", f"{path} cannot be imported: {exc}") from exc
    if not callable(target) and not _task(target):
        raise _error("function", f"{path} is not callable")
    return path, target


def _pair(option: str, value: Any) -> tuple[Any, Any]:
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise _error(option, f"must be a pair (begin, end), not {value!r}")
    return value[0], value[1]


def _convert(name: str, value: Any, option: str) -> Any:
    if value is None:
        return SCALARS[name]
    try:
        if name in DURATION_FIELDS:
            return durations.parse(value)
        if name in TIME_FIELDS:
            return _time(value)
        if name in DATE_FIELDS:
            return value if isinstance(value, date) else date.fromisoformat(value)
        if name == "first_run_at":
            value = value if isinstance(value, datetime) else datetime.fromisoformat(value)
            if value.tzinfo is None:
                raise ValueError(f"must be an aware datetime (with its offset), not {value}")
            return value
    except (TypeError, ValueError) as exc:
        raise _error(option, str(exc)) from exc
    if name in WHOLE_NUMBERS and (isinstance(value, bool) or not isinstance(value, int)):
        raise _error(option, f"must be a whole number, not {value!r}")
    if name == "retry_backoff_factor" and (
        isinstance(value, bool) or not isinstance(value, int | float)
    ):
        raise _error(option, f"must be a number, not {value!r}")
    if name in TEXT_FIELDS and not isinstance(value, str):
        raise _error(option, f"must be a string, not {value!r}")
    if name == "business_days_only" and not isinstance(value, bool):
        raise _error(option, f"must be True or False, not {value!r}")
    if name == "exclude_dates" and not isinstance(value, str):
        return _exclude_dates(value, option)
    return value


def _exclude_dates(values: Any, option: str) -> str:
    """A list of dates (or of "YYYY-MM-DD"), as the field stores them."""
    from akjob.calendars import dates_text

    try:
        return dates_text(values, what=option)
    except ValueError as exc:
        raise _error(option, str(exc)) from None


def _time(value: Any) -> time:
    if isinstance(value, time):
        return value
    if not isinstance(value, str):
        raise TypeError(f"a time is a datetime.time or 'HH:MM', not {value!r}")
    return time.fromisoformat(value)


def _days(name: str, values: Any) -> tuple[int, ...]:
    if isinstance(values, str | int) or not hasattr(values, "__iter__"):
        raise _error(name, f"must be a list of numbers, not {values!r}")
    values = list(values)
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        raise _error(name, f"must be a list of numbers, not {values!r}")
    return tuple(sorted(set(values)))


def _dates(values: Any) -> tuple[datetime, ...]:
    if isinstance(values, str | datetime) or not hasattr(values, "__iter__"):
        raise _error("dates", f"must be a list of datetimes, not {values!r}")
    found = []
    for value in values:
        try:
            found.append(value if isinstance(value, datetime) else datetime.fromisoformat(value))
        except (TypeError, ValueError) as exc:
            raise _error("dates", f"{value!r} is not a datetime: {exc}") from exc
    return tuple(sorted(set(found)))


def _check_code(declaration: Declaration, target: Any) -> None:
    """The arguments must fit: bind to the function, or be JSON for a task."""
    if declaration.is_task:
        try:
            declaration.code()
        except (TypeError, ValueError) as exc:
            raise _error("args", str(exc)) from exc
        return
    try:
        registry.check_arguments(target, list(declaration.args), declaration.kwargs)
    except TypeError as exc:
        raise _error("args", str(exc)) from exc


def _check_schedule(declaration: Declaration) -> None:
    """The job's own validation, on an unsaved job; and a source is required."""
    job = unsaved_job(declaration)
    lists = declaration.lists
    if not (
        job.cron
        or job.run_every is not None
        or lists["monthly_days"]
        or lists["weekly_days"]
        or declaration.dates
        or job.month_positions
    ):
        raise _error(
            "cron",
            "no source: give cron, every, weekly_days, monthly_days, month_positions or dates",
        )
    job.full_clean(validate_unique=False, validate_constraints=False)


def unsaved_job(declaration: Declaration) -> Any:
    """A Job (not saved) with the declaration's fields, day sets and dates."""
    from akjob.models import Job

    job = Job(**declaration.fields, job_enabled=declaration.enabled, code_key=declaration.key)
    for name in LISTS:
        setattr(job, f"{name}_list", list(declaration.lists[name]))
    job.dates_list = list(declaration.dates)
    return job
