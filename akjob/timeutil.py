"""Conversions between the database's datetimes and the engine's aware UTC datetimes."""

from __future__ import annotations

from datetime import UTC, datetime

from django.conf import settings
from django.utils import timezone as dj_timezone


def utcnow() -> datetime:
    """The current time, aware, UTC, whole seconds dropped to the second below."""
    return datetime.now(UTC)


def to_aware(value: datetime | None) -> datetime | None:
    """A stored datetime as aware UTC (naive values are read in TIME_ZONE when USE_TZ is off)."""
    if value is None:
        return None
    if dj_timezone.is_naive(value):
        value = dj_timezone.make_aware(value, dj_timezone.get_default_timezone())
    return value.astimezone(UTC)


def to_db(value: datetime | None) -> datetime | None:
    """An aware datetime in the form the database field expects under the project's USE_TZ."""
    if value is None or settings.USE_TZ:
        return value
    return dj_timezone.make_naive(value, dj_timezone.get_default_timezone())


def truncate(value: datetime) -> datetime:
    """Drop microseconds: akjob's resolution is one second."""
    return value.replace(microsecond=0)
