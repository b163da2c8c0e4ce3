"""Django tasks for akjob's tests of the Tasks hand-off, on whichever Tasks framework is installed
(``django.tasks`` in Django 6, else the ``django_tasks`` backport)."""

from __future__ import annotations

try:
    from django.tasks import task
    from django.tasks.backends.dummy import DummyBackend

    FRAMEWORK = "django.tasks"
except ImportError:
    from django_tasks import task
    from django_tasks.backends.dummy import DummyBackend

    FRAMEWORK = "django_tasks"


class RecordingBackend(DummyBackend):
    """Keeps results in memory and reports them (this process only), so tests can set a
    task's outcome by hand."""

    supports_get_result = True


@task()
def add(a: int, b: int) -> int:
    return a + b


@task()
def boom() -> None:
    raise ValueError("task boom")
