"""Durations as declarations write them: ``"15m"``, ``"1h30m"``, ``"2d"`` (``"-7h"`` for an
offset west of UTC), a number of seconds, or a ``timedelta``."""

from __future__ import annotations

import re
from datetime import timedelta

__all__ = ["parse"]

UNITS = {"w": "weeks", "d": "days", "h": "hours", "m": "minutes", "s": "seconds"}
PART = re.compile(r"(\d+(?:\.\d+)?)([wdhms])")


def parse(value: object) -> timedelta:
    """A ``timedelta`` for ``value``; ValueError (or TypeError) saying what is accepted."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise TypeError(f"a duration is a timedelta, seconds or text like '15m', not {value!r}")
    if isinstance(value, int | float):
        return timedelta(seconds=value)
    if not isinstance(value, str):
        raise TypeError(f"a duration is a timedelta, seconds or text like '15m', not {value!r}")
    text = value.replace(" ", "").lower()
    sign = -1 if text.startswith("-") else 1
    text = text[1:] if text[:1] in ("+", "-") else text
    parts = PART.findall(text)
    if not text or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"{value!r} is not a duration such as '90s', '15m', '1h30m' or '2d'")
    total = timedelta(0)
    for number, unit in parts:
        total += timedelta(**{UNITS[unit]: float(number)})
    return sign * total
