"""A cron expression in words, for the help beside the job form's cron field.

With the optional ``cron-descriptor`` package (``pip install akjob[cron-words]``), the words are
its description ("At 06:30 AM, Monday through Friday"); without it, akjob's own summary of the
expression's fields. Either way, an expression akjob refuses says why.
"""

from __future__ import annotations

from datetime import UTC

from akjob import schedule as engine


def describe_cron(expression: str) -> str:
    """The expression in words, or why it is refused; "" for none."""
    expression = expression.strip()
    if not expression:
        return ""
    try:
        engine.CronSource(expression, UTC)
    except engine.InvalidSchedule as exc:
        return f"not a valid cron expression: {exc}"
    except (ValueError, TypeError) as exc:
        return f"not a valid cron expression: {exc}"
    try:
        from cron_descriptor import Options, get_description
    except ImportError:
        return _fields(expression)
    try:
        options = Options()
        options.use_24hour_time_format = True
        return str(get_description(expression, options))
    except Exception:  # noqa: BLE001 - an optional describer must never break the form
        return _fields(expression)


NAMES = ("minute", "hour", "day of month", "month", "weekday")


def _fields(expression: str) -> str:
    parts = expression.split()
    if len(parts) != len(NAMES):
        return expression
    shown = [f"{name} {part}" for name, part in zip(NAMES, parts, strict=True) if part != "*"]
    return "; ".join(shown) if shown else "every minute"
