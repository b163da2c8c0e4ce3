"""Hand a job's runs to Django's Tasks framework: akjob schedules, the task backend's workers run.

    from akjob.models import Job
    from akjob.tasks import TaskCall
    from myapp.tasks import send_report  # a @task-decorated function

    job = Job(name="nightly report", cron="0 2 * * *")
    job.job_code_object = TaskCall(send_report, "sales", recipients=["a@example.com"])
    job.save()

At each occurrence akjobd's worker calls ``send_report.enqueue("sales", recipients=[...])``
through the task's backend (database, RQ, Celery, ...) instead of running the function itself,
and records the task result's id on the run (``JobRun.task_result_id``). The run is
``succeeded`` once the task is enqueued; akjobd's heartbeat then asks the backend for the task's
outcome (a bounded number of runs each time) and records it in ``JobRun.task_status``; a task
that failed turns its run ``failed``, with the task's error.

Works with ``django.tasks`` (Django 6) and with the ``django_tasks`` backport (Django 5.2, ``pip
install akjob[tasks]``).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from django.utils.module_loading import import_string

from akjob.context import current_run

__all__ = ["TaskCall", "TaskFailed", "refresh_results"]

log = logging.getLogger("akjob.daemon")

PENDING = ("READY", "RUNNING")
SUCCESSFUL, FAILED = "SUCCESSFUL", "FAILED"
OPTIONS = ("priority", "queue_name", "backend")  # what ``task.using(...)`` may have changed


class TaskFailed(Exception):
    """The task ran at once (an immediate backend) and failed."""


def is_task(obj: Any) -> bool:
    """Whether ``obj`` is a Django task (``django.tasks`` or the backport): a ``@task``-decorated
    function."""
    return (
        callable(getattr(obj, "enqueue", None))
        and isinstance(getattr(obj, "module_path", None), str)
        and hasattr(obj, "get_backend")
    )


class TaskCall:
    """Job code that enqueues the Django task ``task`` with ``args`` and ``kwargs`` each time the
    job runs.

    The task is stored by its dotted path (and the priority, queue or backend chosen with
    ``task.using(...)``), not pickled: the task must be importable under that path, as a
    ``@task``-decorated module-level function is. The arguments must be JSON-serialisable, as the
    Tasks framework requires.
    """

    def __init__(self, task: Any, *args: Any, **kwargs: Any) -> None:
        if not is_task(task):
            raise TypeError(f"{task!r} is not a Django task: decorate the function with @task")
        path = task.module_path
        try:
            defined = import_string(path)
        except ImportError as exc:
            raise ValueError(f"task {path} cannot be imported by its path: {exc}") from exc
        if not is_task(defined) or defined.func is not task.func:
            raise ValueError(f"{path} is not this task: define the task at module level")
        try:
            json.dumps([args, kwargs])
        except (TypeError, ValueError) as exc:
            raise ValueError(f"the task's arguments must be JSON-serialisable: {exc}") from exc
        self.task_path = path
        self.options = {
            name: getattr(task, name)
            for name in OPTIONS
            if getattr(task, name) != getattr(defined, name)
        }
        self.args = list(args)
        self.kwargs = dict(kwargs)

    def __repr__(self) -> str:
        params = [repr(a) for a in self.args] + [f"{k}={v!r}" for k, v in self.kwargs.items()]
        using = f".using({self.options})" if self.options else ""
        return f"TaskCall({self.task_path}{using}, {', '.join(params)})".replace(", )", ")")

    def task(self) -> Any:
        """The task, imported by its path, with the options it was given."""
        task = import_string(self.task_path)
        return task.using(**self.options) if self.options else task

    def run(self, ownjob: Any = None) -> Any:
        """Enqueue the task; record its result id (and status) on the current run."""
        task = self.task()
        result = task.enqueue(*self.args, **self.kwargs)
        status = _status(result)
        if status in PENDING and not getattr(task.get_backend(), "supports_get_result", True):
            status = ""  # the backend will never tell: nothing to ask about later
        run = current_run()
        if run is not None and run.run_id is not None:
            from akjob.models import JobRun

            JobRun.objects.filter(pk=run.run_id).update(
                task_result_id=str(result.id),
                task_backend=str(result.backend),
                task_status=status,
            )
        if status == FAILED:  # an immediate backend ran it already
            raise TaskFailed(_error(result) or f"task {self.task_path} failed")
        return result


def _status(result: Any) -> str:
    status = result.status
    return str(getattr(status, "value", status))


def _error(result: Any) -> str:
    errors = getattr(result, "errors", None) or []
    return str(getattr(errors[-1], "traceback", "")) if errors else ""


def task_backends() -> Any:
    """The task backends handler: ``django.tasks`` where Django has it, else the backport's;
    None when neither is installed."""
    try:
        from django.tasks import task_backends as backends
    except ImportError:
        try:
            from django_tasks import task_backends as backends
        except ImportError:
            return None
    return backends


def _does_not_exist() -> tuple[type[BaseException], ...]:
    """The "no such task result" exceptions of the Tasks frameworks installed."""
    found: list[type[BaseException]] = []
    for module in ("django.tasks.exceptions", "django_tasks.exceptions"):
        try:
            found.append(import_string(f"{module}.TaskResultDoesNotExist"))
        except ImportError:
            pass
    return tuple(found)


def refresh_results(limit: int, after: int = 0) -> int:
    """Ask the task backends how up to ``limit`` handed-over tasks that had not finished are
    doing, and record what changed; runs are visited in id order from ``after``, wrapping
    around, so every one is reached in turn. Returns the id to continue after next time.

    A task that failed turns its run ``failed`` with the task's error; one whose result the
    backend no longer knows gets an empty ``task_status`` and a note. A backend that cannot
    answer (down, or unable to look results up) is asked again next time.
    """
    from akjob.models import JobRun

    pending = JobRun.objects.filter(task_status__in=PENDING).order_by("pk")
    fields = ("pk", "task_result_id", "task_backend", "task_status")
    rows = list(pending.filter(pk__gt=after).values_list(*fields)[:limit])
    if not rows and after:
        rows = list(pending.values_list(*fields)[:limit])
    if not rows:
        return 0
    backends = task_backends()
    if backends is None:
        return rows[-1][0]
    gone = _does_not_exist()
    for pk, result_id, alias, old in rows:
        try:
            result = backends[alias].get_result(result_id)
        except gone:
            _record(pk, old, "", error=f"task result {result_id} is no longer known")
            continue
        except Exception as exc:  # noqa: BLE001 - a third-party backend may raise anything
            log.warning("task backend %r did not answer about %s: %r", alias, result_id, exc)
            return pk - 1 if pk > 1 else 0  # ask again from here next time
        status = _status(result)
        if status != old:
            _record(pk, old, status, error=_error(result) if status == FAILED else "")
    return rows[-1][0]


def _record(pk: int, old: str, status: str, *, error: str = "") -> None:
    from akjob.models import JobRun

    changes: dict[str, Any] = {"task_status": status}
    if status == FAILED:
        changes["status"] = JobRun.Status.FAILED
    if error:
        changes["error"] = (f"the task failed:\n{error}" if status == FAILED else error)[-8000:]
    JobRun.objects.filter(pk=pk, task_status=old).update(**changes)
