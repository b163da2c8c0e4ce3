"""What every akjob admin page shares: status badges and the time-zone rule.

The rule, stated on the pages: every time is shown with its zone. A job's times (its schedule,
its runs, its housekeeping) are in the job's zone, its ``timezone`` or else
``AKJOB_DEFAULT_TIMEZONE``; where the site's zone (Django's ``TIME_ZONE``, the zone of the date
pickers and their "Now" buttons) differs, the same time in the site's zone is shown beside it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from datetime import datetime, tzinfo
from typing import Any

from django.utils import timezone as dj_timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

from akjob.conf import akjob_settings
from akjob.jobschedule import job_zone
from akjob.text import clock_time, zone_name
from akjob.timeutil import to_aware

DASH = "\u2014"


def site_zone() -> tzinfo:
    """The zone the site's forms read times in (Django's current time zone)."""
    return dj_timezone.get_current_timezone()


def zone_of(job: Any) -> tzinfo:
    """The zone a job's times are shown in; the default zone for a deleted job."""
    return job_zone(job) if job is not None else akjob_settings.default_timezone


def status_badge(status: str) -> SafeString:
    """A run status, coloured by the stylesheet of akjob's admin templates."""
    css = status.replace(" ", "-")
    return format_html('<span class="akjob-status akjob-{}">{}</span>', css, status)


def local_text(value: datetime, zone: tzinfo, *, seconds: bool = True) -> str:
    """``2027-06-07 06:00:00 MDT``: the time in ``zone`` with the zone's abbreviation."""
    local = value.astimezone(zone)
    shown = local.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")
    return f"{shown} {local.tzname() or zone_name(zone)}"


def time_html(value: datetime | None, zone: tzinfo, *, weekday: bool = False) -> SafeString | str:
    """A time in ``zone`` with its zone, and the site's time beside it where the zones differ."""
    aware = to_aware(value)
    if aware is None:
        return DASH
    text = local_text(aware, zone)
    if weekday:
        text = f"{aware.astimezone(zone):%a} {text}"
    site = site_zone()
    title = f"{zone_name(zone)}; {aware.isoformat()} in UTC"
    if _same_offset(aware, zone, site):
        return format_html(
            '<time datetime="{}" title="{}">{}</time>', aware.isoformat(), title, text
        )
    return format_html(
        '<time datetime="{}" title="{}">{}</time> '
        '<span class="akjob-site-time">({} site time)</span>',
        aware.isoformat(),
        title,
        text,
        clock_time(aware, site),
    )


def _same_offset(value: datetime, zone: tzinfo, site: tzinfo) -> bool:
    return zone_name(zone) == zone_name(site) or (
        value.astimezone(zone).utcoffset() == value.astimezone(site).utcoffset()
        and value.astimezone(zone).tzname() == value.astimezone(site).tzname()
    )


def zone_rule(job_zone_: tzinfo | None = None) -> str:
    """The sentence that states the time-zone rule on a page."""
    site = zone_name(site_zone())
    if job_zone_ is None:
        return (
            f"Times are shown in each job's time zone, with the site's ({site}) beside them "
            "where it differs."
        )
    own = zone_name(job_zone_)
    if own == site:
        return f"Times are in {own}, the job's time zone and the site's."
    return (
        f"This job's times are in its time zone, {own}; the site's zone, {site}, is shown beside "
        f"them. Dates and times typed in the form are read in {own} for the schedule, except the "
        f"dates below, which are read in {site}."
    )


def field_label(name: str) -> str:
    """The label of the job's field ``name`` (its verbose name), e.g. "weekly time"."""
    from akjob.models import Job

    try:
        return str(Job._meta.get_field(name).verbose_name)
    except Exception:  # noqa: BLE001 - a name that is no field (or a relation) reads as words
        return name.strip("_").replace("_", " ")


def field_words(text: str, label: Callable[[str], str] = field_label) -> str:
    """``text`` with each of the job's field names replaced by its label in quotes:
    "run_count_limit is reached" becomes "“run count limit” is reached"."""
    return _names().sub(lambda m: f"“{label(m.group(0))}”", text)


@functools.cache
def _names() -> re.Pattern[str]:
    """The job's field names as the model's messages use them ("name" and "dates" are left:
    they are words too)."""
    from akjob.models import Job

    names = {f.name for f in Job._meta.get_fields() if not f.auto_created} | {"job_code_object"}
    names -= {"name", "dates", "id"}
    ordered = sorted(names, key=len, reverse=True)
    return re.compile(rf"(?<![\w.])(?:{'|'.join(re.escape(n) for n in ordered)})(?!\w)")
