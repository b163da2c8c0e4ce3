"""Views for load balancers, probes and scrapers, included with ``path("akjob/",
include("akjob.urls"))``: ``health/`` (docs/monitoring.md) and ``metrics/`` (docs/monitoring.md)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from akjob.timeutil import utcnow


@never_cache
@require_GET
def health(request: HttpRequest) -> HttpResponse:
    """The cluster's health as JSON (:func:`akjob.health.snapshot`): 200 while at least one
    akjobd is alive, 503 when none is, or when the database does not answer."""
    from django.db import DatabaseError

    from akjob.health import snapshot

    try:
        data = snapshot(utcnow())
    except DatabaseError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return JsonResponse({"status": "down", "healthy": False, "error": reason}, status=503)
    return JsonResponse(data, status=200 if data["healthy"] else 503)


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """The cluster's view from the database in Prometheus's text format (needs akjob[metrics])."""
    try:
        from akjob.metrics.cluster import exposition
    except ImportError:
        return HttpResponse(
            "the metrics view needs prometheus-client: pip install akjob[metrics]\n",
            status=501,
            content_type="text/plain; charset=utf-8",
        )
    body, content_type = exposition(utcnow())
    return HttpResponse(body, content_type=content_type)
