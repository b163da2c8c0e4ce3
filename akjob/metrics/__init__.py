"""What akjobd tells the outside about its work: Prometheus metrics and OpenTelemetry spans.

Both are optional (``akjob[metrics]``, ``akjob[otel]``) and off by default. The loop calls one
:class:`Hooks` object at a few points (a run started, a run ended, runs claimed, a heartbeat, a
database error); with both off that object does nothing. See docs/monitoring.md.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from akjob.conf import akjob_settings

logger = logging.getLogger("akjob.metrics")


class Hooks:
    """Does nothing; :func:`for_daemon` returns one that feeds the metrics and spans."""

    fds: tuple[int, ...] = ()  # descriptors to close in run processes

    def run_started(self, claimed: Any, now: datetime) -> None:
        """A claimed run was handed to its process at ``now``."""

    def run_finished(self, claimed: Any, status: str, error: str, ended: datetime) -> None:
        """A run ended with ``status`` at ``ended`` (recorded, or about to be)."""

    def claimed(self, count: int) -> None:
        """``count`` occurrences were claimed by this daemon."""

    def heartbeat(self, *, lag: float, busy: int, workers: int) -> None:
        """A heartbeat: its lag behind schedule, the runs in progress, the worker limit."""

    def database_error(self) -> None:
        """A database error made the loop back off."""

    def overdue(self, count: int) -> None:
        """The alert check found ``count`` jobs overdue."""


class _Many(Hooks):
    def __init__(self, hooks: list[Hooks]) -> None:
        self.hooks = hooks
        self.fds = tuple(fd for hook in hooks for fd in hook.fds)

    def run_started(self, claimed: Any, now: datetime) -> None:
        for hook in self.hooks:
            hook.run_started(claimed, now)

    def run_finished(self, claimed: Any, status: str, error: str, ended: datetime) -> None:
        for hook in self.hooks:
            hook.run_finished(claimed, status, error, ended)

    def claimed(self, count: int) -> None:
        for hook in self.hooks:
            hook.claimed(count)

    def heartbeat(self, *, lag: float, busy: int, workers: int) -> None:
        for hook in self.hooks:
            hook.heartbeat(lag=lag, busy=busy, workers=workers)

    def database_error(self) -> None:
        for hook in self.hooks:
            hook.database_error()

    def overdue(self, count: int) -> None:
        for hook in self.hooks:
            hook.overdue(count)


def for_daemon(*, serve: bool = True) -> Hooks:
    """The hooks the settings ask for: Prometheus metrics served on ``AKJOB_METRICS_ADDR``
    (``serve=False``: collected, not served) and spans with ``AKJOB_OTEL``. A missing extra is
    an error with the command that installs it."""
    from django.core.exceptions import ImproperlyConfigured

    hooks: list[Hooks] = []
    addr = akjob_settings.metrics_addr
    if addr:
        try:
            from akjob.metrics.daemon import PrometheusHooks
        except ImportError as exc:
            raise ImproperlyConfigured(
                "AKJOB_METRICS_ADDR is set but prometheus-client is not installed: "
                "pip install akjob[metrics]"
            ) from exc
        hooks.append(PrometheusHooks.serving(addr) if serve else PrometheusHooks())
    if akjob_settings.otel:
        try:
            from akjob.metrics.otel import SpanHooks
        except ImportError as exc:
            raise ImproperlyConfigured(
                "AKJOB_OTEL is on but opentelemetry-api is not installed: pip install akjob[otel]"
            ) from exc
        hooks.append(SpanHooks())
    if not hooks:
        return Hooks()
    return hooks[0] if len(hooks) == 1 else _Many(hooks)


def for_daemon_or_none() -> Hooks:
    """:func:`for_daemon`; when the metrics cannot be served (a missing extra, an address in
    use), the error is logged and akjobd runs its jobs without them."""
    from django.core.exceptions import ImproperlyConfigured

    try:
        return for_daemon()
    except (ImproperlyConfigured, OSError, ValueError) as exc:
        logger.error("metrics and spans are off: %s", exc)
        return Hooks()
