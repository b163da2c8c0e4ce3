"""OpenTelemetry spans around runs (``akjob[otel]``, ``AKJOB_OTEL = True``): one span per run,
from its start to its end, with the job, the run id and the outcome. The project configures the
tracer provider and exporter as usual; without one the spans cost next to nothing."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode

from akjob.metrics import Hooks


def _ns(when: datetime) -> int:
    return int(when.timestamp() * 1_000_000_000)


class SpanHooks(Hooks):
    def __init__(self, tracer: Any = None) -> None:
        self.tracer = tracer or trace.get_tracer("akjob")
        self.spans: dict[int, Any] = {}

    def run_started(self, claimed: Any, now: datetime) -> None:
        job = getattr(claimed, "job", None)
        self.spans[claimed.run_id] = self.tracer.start_span(
            "akjob.run",
            start_time=_ns(max(now, claimed.scheduled)),
            attributes={
                "akjob.job.id": claimed.job_id,
                "akjob.job.name": getattr(job, "name", "") or "",
                "akjob.run.id": claimed.run_id,
                "akjob.run.scheduled": claimed.scheduled.isoformat(),
            },
        )

    def run_finished(self, claimed: Any, status: str, error: str, ended: datetime) -> None:
        span = self.spans.pop(claimed.run_id, None)
        if span is None:
            return
        span.set_attribute("akjob.run.status", str(status))
        if str(status) == "succeeded":
            span.set_status(Status(StatusCode.OK))
        else:
            last = error.strip().splitlines()[-1:] or [str(status)]
            span.set_status(Status(StatusCode.ERROR, last[0][:500]))
        span.end(end_time=_ns(ended))
