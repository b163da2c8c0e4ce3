"""The job fields that name days by calendar, read into the plain values the engine takes.

``exclude_dates`` (dates, comma- or line-separated), ``month_positions`` (places in the month in
cron's notation, with day names) and ``holidays`` (a country and an optional subdivision, looked
up with the optional ``holidays`` package, akjob[holidays]). Each refusal is a ValidationError
keyed by its field, naming the rule (docs/schedule.md, "Calendars" and "Places in the month").
Holidays are looked up here, once per calendar and span of years, never by the engine.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from django.core.exceptions import ValidationError

from akjob.schedule import Holidays
from akjob.schedule.spec import LAST

__all__ = [
    "HOLIDAY_YEARS_AHEAD",
    "ExcludeDatesProperty",
    "format_dates",
    "holiday_calendar",
    "parse_dates",
    "parse_positions",
]

#: Holidays are looked up from the year before the current one to this many years after it.
HOLIDAY_YEARS_AHEAD = 10
DAY_NAMES = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
_SEPARATORS = re.compile(r"[\s,;]+")
_CODE = re.compile(r"^([A-Za-z]{2,3})(?:-([A-Za-z0-9]{1,6}))?$")


def _items(text: str) -> list[str]:
    return [item for item in _SEPARATORS.split(text or "") if item]


def parse_dates(text: str) -> list[date]:
    """The dates of ``exclude_dates``: ``YYYY-MM-DD`` items separated by commas, semicolons,
    spaces or new lines; sorted, each once."""
    found: set[date] = set()
    for item in _items(text):
        try:
            found.add(date.fromisoformat(item))
        except ValueError:
            raise ValidationError(
                {"exclude_dates": [f"exclude dates: {item!r} is not a date; write YYYY-MM-DD"]}
            ) from None
    return sorted(found)


def format_dates(values: list[date]) -> str:
    """``exclude_dates`` as stored: the dates, sorted, comma-separated."""
    return ", ".join(day.isoformat() for day in sorted(set(values)))


def dates_text(values: Any, *, what: str, text: bool = True) -> str:
    """A list of dates (``datetime.date``, or with ``text`` also ``"YYYY-MM-DD"``) as
    ``exclude_dates`` stores them. ValueError, in words, for anything else: ``what`` names the
    value refused."""
    if values is None:
        values = []
    if isinstance(values, str | bytes | date) or not hasattr(values, "__iter__"):
        raise ValueError(f"{what} takes a list of dates, not {values!r}")
    days = []
    for value in values:
        day = value
        if isinstance(value, str) and text:
            try:
                day = date.fromisoformat(value)
            except ValueError:
                raise ValueError(f"{value!r} is not a date; write YYYY-MM-DD") from None
        if isinstance(day, datetime) or not isinstance(day, date):
            raise ValueError(f"{value!r} is not a date")
        days.append(day)
    return format_dates(days)


class ExcludeDatesProperty(property):
    """``Job.exclude_dates_list``: ``exclude_dates`` as a sorted list of dates (an unreadable
    value reads as none; saving refuses it). Assigning a list of dates writes the field."""

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if instance is None:
            return self
        try:
            return parse_dates(instance.exclude_dates)
        except ValidationError:
            return []

    def __set__(self, instance: Any, values: Any) -> None:
        try:
            instance.exclude_dates = dates_text(values, what="exclude_dates_list", text=False)
        except ValueError as exc:
            raise ValidationError({"exclude_dates": [str(exc)]}) from None


def parse_positions(text: str) -> tuple[frozenset[int], frozenset[tuple[int, int]]]:
    """``month_positions`` as (days before the last, (weekday 1 = Sunday, k) pairs).

    Items: ``L`` (the last day), ``L-n`` (n days before it, 1–30), ``MON#k`` (the k-th Monday,
    1–5), ``MONL`` (the last Monday); day names SUN–SAT in any case."""
    from_last: set[int] = set()
    nth: set[tuple[int, int]] = set()
    for raw in _items(text):
        item = raw.upper()
        if item == "L":
            from_last.add(0)
        elif item.startswith("L-") and item[2:].isdigit() and item[2:].isascii():
            back = int(item[2:])
            if not 1 <= back <= 30:
                raise ValidationError(
                    {
                        "month_positions": [
                            f"month positions: {raw!r}: the number after L- must be 1–30"
                        ]
                    }
                )
            from_last.add(back)
        elif item[:3] in DAY_NAMES and item[3:] == "L":
            nth.add((DAY_NAMES.index(item[:3]) + 1, LAST))
        elif item[:3] in DAY_NAMES and item[3:4] == "#" and item[4:] in ("1", "2", "3", "4", "5"):
            nth.add((DAY_NAMES.index(item[:3]) + 1, int(item[4:])))
        else:
            raise ValidationError(
                {
                    "month_positions": [
                        f"month positions: {raw!r} is not a place in the month: use L, "
                        "L-n (n 1–30), "
                        "a day name with #1–#5 (MON#1) or with L (FRIL)"
                    ]
                }
            )
    return frozenset(from_last), frozenset(nth)


def holiday_calendar(code: str, year: int) -> Holidays | None:
    """The public holidays of ``code`` (``US``, ``DE-BY``) from ``year`` - 1 to ``year`` +
    :data:`HOLIDAY_YEARS_AHEAD`, or None for an empty code. ValidationError("holidays") when
    the package is missing or does not know the country or subdivision."""
    code = (code or "").strip()
    if not code:
        return None
    match = _CODE.match(code)
    if match is None:
        raise ValidationError(
            {
                "holidays": [
                    f"holidays: {code!r} is not a country code with an optional subdivision"
                    " (US, DE-BY)"
                ]
            }
        )
    return _calendar(match.group(1).upper(), (match.group(2) or "").upper(), year)


@lru_cache(maxsize=64)
def _calendar(country: str, subdivision: str, year: int) -> Holidays:
    try:
        import holidays as package
    except ImportError:
        raise ValidationError(
            {
                "holidays": [
                    "holidays: needs the holidays package: pip install 'akjob[holidays]'"
                    " (docs/dependencies.md)"
                ]
            }
        ) from None
    years = range(year - 1, year + HOLIDAY_YEARS_AHEAD + 1)
    try:
        found = package.country_holidays(country, subdiv=subdivision or None, years=years)
    except NotImplementedError:
        where = f"subdivision {subdivision} of {country}" if subdivision else f"country {country}"
        raise ValidationError(
            {"holidays": [f"holidays: the holidays package does not know the {where}"]}
        ) from None
    name = f"{country}-{subdivision}" if subdivision else country
    return Holidays(name, frozenset(found.keys()))
