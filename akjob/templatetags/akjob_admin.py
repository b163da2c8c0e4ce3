"""Template filters of akjob's admin pages: times with their zones (see akjob.admin.common)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django import template

from akjob.admin.common import site_zone, time_html, zone_of
from akjob.text import run_duration

register = template.Library()


@register.filter
def job_time(value: datetime | None, job: Any) -> Any:
    """The time in the job's zone, with the site's time beside it where the zones differ."""
    return time_html(value, zone_of(job), weekday=True)


@register.filter
def took(run: Any) -> str:
    """How long a run took, in words."""
    return run_duration(run)


@register.filter
def site_time(value: datetime | None) -> Any:
    """The time in the site's zone, with the zone."""
    return time_html(value, site_zone(), weekday=True)


@register.filter
def thousands(value: int) -> str:
    """``4,320``."""
    return f"{int(value):,}"
