"""The forms of akjob's admin: the job form (code from a registered function, the model's
validation shown on its fields) and the range of the "Upcoming runs" page.

Nothing here unpickles: a job's code is made from a registered function's dotted path and JSON
arguments, and an existing job's stored code object is only ever checked for its signature.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError

from akjob import registry
from akjob.codeobjects import JobCallable
from akjob.exceptions import InvalidJobCode
from akjob.models import Job
from akjob.timeutil import to_aware, utcnow

# The model's many-to-many day sets, and the *_list property that stages each before a save.
DAY_SETS = {
    "monthly_days": "monthly_days_list",
    "weekly_days": "weekly_days_list",
    "active_monthly_days": "active_monthly_days_list",
    "active_weekly_days": "active_weekly_days_list",
    "active_months": "active_months_list",
}
EDITABLE = (
    "name",
    "run_every",
    "weekly_days",
    "weekly_time",
    "monthly_days",
    "monthly_time",
    "cron",
    "job_enabled",
    "run_count_limit",
    "active_time_begin",
    "active_time_end",
    "active_weekly_days",
    "active_monthly_days",
    "active_months",
    "active_date_begin",
    "active_date_end",
    "timezone",
    "weekly_time_tz_offset_timedelta",
    "monthly_time_tz_offset_timedelta",
    "active_time_tz_offset_timedelta",
    # calendars, places in the month, jitter
    "month_positions",
    "business_days_only",
    "holidays",
    "exclude_dates",
    "jitter",
    "catch_up",
    "timeout",
    "misfire_grace",
    "alert_after",
    "deleteme",
)
KEEP_HELP = "Leave empty to keep the current code object."
NEW_HELP = "The registered function the job calls (@akjob.job_function or AKJOB_JOB_FUNCTIONS)."
NONE_REGISTERED = (
    "No function is registered: decorate one with @akjob.job_function or list it in "
    "AKJOB_JOB_FUNCTIONS."
)


MAX_DEPTH = 20  # lists and objects nested in the arguments, at most
MAX_ARGUMENTS = 64 * 1024  # characters of each arguments field, at most


def _json(value: str, kind: type, what: str, label: str) -> Any:
    """The JSON ``value`` as a ``kind``, or a ValidationError naming the field's ``label``:
    also for JSON that nests deeper than :data:`MAX_DEPTH` (checked before parsing, which would
    run out of stack), or that Python refuses to read (an integer of thousands of digits)."""
    if not value.strip():
        return kind()
    if _nesting(value) > MAX_DEPTH:
        raise ValidationError(
            f"{label}: lists and objects nest deeper than {MAX_DEPTH} levels", code="depth"
        )
    if len(value) > MAX_ARGUMENTS:
        raise ValidationError(
            f"{label}: at most {MAX_ARGUMENTS} characters, not {len(value)}", code="size"
        )
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as exc:
        raise ValidationError(f"{label}: not valid JSON: {exc}", code="json") from exc
    except (ValueError, RecursionError) as exc:  # e.g. Python's limit on digits of an integer
        raise ValidationError(f"{label}: cannot be read: {exc}", code="json") from exc
    if not isinstance(parsed, kind):
        raise ValidationError(
            f"{label}: must be a JSON {what}, not {type(parsed).__name__}: {value.strip()}",
            code="type",
        )
    return parsed


def _nesting(text: str) -> int:
    """How deep brackets and braces nest in the JSON ``text``, outside its strings."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


class JobAdminForm(forms.ModelForm):
    """The Job change form, plus the job's code: a registered function and JSON arguments."""

    function = forms.ChoiceField(required=False, label="function")
    arguments = forms.CharField(
        required=False,
        label="arguments",
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60, "placeholder": '["weekly", 3]'}),
        help_text="Positional arguments, as a JSON list.",
    )
    keyword_arguments = forms.CharField(
        required=False,
        label="keyword arguments",
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60, "placeholder": '{"to": "ops"}'}),
        help_text="Keyword arguments, as a JSON object.",
    )

    class Meta:
        model = Job
        fields = EDITABLE

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["function"]
        functions = registry.registered()
        field.choices = [("", "---------")] + [(f.path, f.choice_label()) for f in functions]
        adding = self.instance._state.adding
        field.required = adding
        field.help_text = NEW_HELP if adding else KEEP_HELP
        if not functions:
            field.help_text = NONE_REGISTERED

    def clean_arguments(self) -> list[Any]:
        label = self.fields["arguments"].label
        return _json(self.cleaned_data.get("arguments") or "", list, "list", label)

    def clean_keyword_arguments(self) -> dict[str, Any]:
        label = self.fields["keyword_arguments"].label
        return _json(self.cleaned_data.get("keyword_arguments") or "", dict, "object", label)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        path = data.get("function")
        given = bool(data.get("arguments") or data.get("keyword_arguments"))
        if not path:
            if given and "function" not in self.errors:
                self.add_error("function", "Choose the function these arguments are for.")
            return data
        try:
            function = registry.resolve(path)
        except (LookupError, ImportError, TypeError) as exc:
            self.add_error("function", f"{path} cannot be used: {exc}")
            return data
        if "arguments" in data and "keyword_arguments" in data:
            try:
                registry.check_arguments(function, data["arguments"], data["keyword_arguments"])
            except TypeError as exc:
                self.add_error("arguments", str(exc))
        return data

    def _post_clean(self) -> None:
        # The model's clean() checks the day sets against their times, so stage the chosen
        # sets on the instance first; Job.save() applies them, save_m2m() then finds no change.
        for field, prop in DAY_SETS.items():
            if field in self.cleaned_data:
                setattr(self.instance, prop, [obj.pk for obj in self.cleaned_data[field]])
        path = self.cleaned_data.get("function")
        if path and not self.errors:
            args = self.cleaned_data.get("arguments", [])
            kwargs = self.cleaned_data.get("keyword_arguments", {})
            try:
                self.instance.job_code_object = JobCallable(path, *args, **kwargs)
            except InvalidJobCode as exc:
                self.add_error("function", exc.messages)
        super()._post_clean()

    def _update_errors(self, errors: ValidationError) -> None:
        # The model names fields the form lacks (dates, housekeeping): show those at the top,
        # with the field's name, instead of failing.
        if hasattr(errors, "error_dict"):
            moved: dict[str, list[Any]] = {}
            for field, messages in errors.error_dict.items():
                if field == "job_code_object":
                    field = "function"
                if field != NON_FIELD_ERRORS and field not in self.fields:
                    texts = [m for e in messages for m in e.messages]
                    moved.setdefault(NON_FIELD_ERRORS, []).extend(f"{field}: {t}" for t in texts)
                else:
                    moved.setdefault(field, []).extend(messages)
            errors = ValidationError(moved)
        super()._update_errors(errors)


class UpcomingRangeForm(forms.Form):
    """The range of the "Upcoming runs" page: a start (default now) and a number of hours."""

    MAX_HOURS = 31 * 24
    HOURS = [(1, "1 hour"), (6, "6 hours"), (24, "24 hours"), (72, "3 days"), (168, "7 days")]
    HOURS += [(MAX_HOURS, "31 days")]

    start = forms.DateTimeField(
        required=False,
        help_text="Empty for now; read in the site's time zone.",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
    hours = forms.IntegerField(min_value=1, max_value=MAX_HOURS, initial=24)

    def clean_start(self) -> datetime | None:
        start = self.cleaned_data.get("start")
        if start is not None and to_aware(start) < utcnow() - timedelta(minutes=1):
            raise ValidationError("The range must start now or later.", code="past")
        return start

    def range(self) -> tuple[datetime, datetime]:
        """(start, end) as aware UTC datetimes; call after is_valid()."""
        start = to_aware(self.cleaned_data.get("start")) or utcnow()
        start = max(start, utcnow()).replace(microsecond=0)
        return start, start + timedelta(hours=self.cleaned_data.get("hours") or 24)
