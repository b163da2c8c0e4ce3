"""Form fields of akjob's admin that read what people type."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from akjob.text import duration, parse_duration


class HumanDurationField(forms.DurationField):
    """A duration typed as ``15 minutes``, ``1h30m``, ``90 s`` or ``00:15:00``, and shown back
    in words (``1 hour 30 minutes``)."""

    widget = forms.TextInput

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.widget.attrs.setdefault("placeholder", "e.g. 15 minutes")
        self.widget.attrs.setdefault("size", 20)

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, timedelta):
            return duration(value)
        return value

    def to_python(self, value: Any) -> timedelta | None:
        if value in self.empty_values:
            return None
        if isinstance(value, timedelta):
            return value
        try:
            return parse_duration(str(value))
        except ValueError as exc:
            label = str(self.label or "duration")
            raise ValidationError(f"{label[:1].upper()}{label[1:]}: {exc}", code="invalid") from exc
