"""The job form of akjob's admin: code from a registered function, durations in words, the
model's validation shown on its fields in the form's own words, all at once.

Nothing here unpickles: a job's code is made from a registered function's dotted path and JSON
arguments, and an existing job's stored code is read inertly (:mod:`akjob.admin.stored_code`).
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.utils.html import format_html

from akjob import registry
from akjob.admin import stored_code
from akjob.admin.common import field_label, field_words
from akjob.admin.cron_words import describe_cron
from akjob.admin.fields import HumanDurationField
from akjob.codeobjects import JobCallable
from akjob.exceptions import InvalidJobCode
from akjob.models import Job

# The model's many-to-many day sets, and the *_list property that stages each before a save.
DAY_SETS = {
    "monthly_days": "monthly_days_list",
    "weekly_days": "weekly_days_list",
    "active_monthly_days": "active_monthly_days_list",
    "active_weekly_days": "active_weekly_days_list",
    "active_months": "active_months_list",
}
# The job page: its groups of fields, in order (help in words for each group).
FIELDSETS: tuple[tuple[str | None, dict[str, Any]], ...] = (
    (None, {"fields": ("name",)}),
    (
        "When it runs (sources)",
        {
            "fields": (
                "run_every",
                "first_run_at",
                "weekly_days",
                "weekly_time",
                "monthly_days",
                "monthly_time",
                "cron",
            ),
            "description": "The job runs at every time any of these gives; dates are "
            "listed at the bottom of the page.",
        },
    ),
    (
        "Limits",
        {
            "fields": (
                "job_enabled",
                "run_count_limit",
                ("active_time_begin", "active_time_end"),
                "active_weekly_days",
                "active_monthly_days",
                "active_months",
                ("active_date_begin", "active_date_end"),
            ),
            "description": "A run time must pass every limit that is set.",
        },
    ),
    (
        "Calendars, places in the month, jitter, catch-up",
        {
            "fields": (
                "month_positions",
                "business_days_only",
                "holidays",
                "exclude_dates",
                "jitter",
                "catch_up",
            ),
            "description": "Places in the month run at monthly_time. Holidays, excluded "
            "dates and business days are limits, read in the job's time zone. Jitter moves "
            "each run later by a fixed amount of up to its value (docs/schedule.md). Catch-up "
            "says what happens to occurrences missed while no akjobd ran (docs/guarantees.md).",
        },
    ),
    (
        "Time zone",
        {
            "fields": (
                "timezone",
                "weekly_time_tz_offset_timedelta",
                "monthly_time_tz_offset_timedelta",
                "active_time_tz_offset_timedelta",
            ),
            "description": "An IANA zone (with daylight saving time), or fixed offsets "
            "such as -07:00:00; the offsets must stay zero when a zone is set.",
        },
    ),
    (
        "When runs overlap or fail",
        {
            "fields": (
                ("overlap", "max_instances"),
                "retries",
                ("retry_backoff", "retry_backoff_factor", "retry_backoff_max"),
            ),
            "description": "Overlap: what happens when an occurrence comes while the "
            "job's last run is still going. Retries: a failed or timed-out run is tried "
            "again after a wait that grows by the factor, up to the longest wait; a retry "
            "that would come after the job's next run is not made (docs/guarantees.md).",
        },
    ),
    (
        "What it runs",
        {
            "fields": (
                "function",
                "arguments",
                "keyword_arguments",
                "code_object",
                "timeout",
                "misfire_grace",
                "alert_after",
                "deleteme",
            ),
        },
    ),
    (
        "Housekeeping (written by akjob)",
        {
            "fields": (
                ("run_count", "running_now"),
                ("last_run_at", "next_run_at"),
                "interval_anchor",
            ),
            "classes": ("collapse",),
        },
    ),
)


def _editable(fieldsets: Any) -> tuple[str, ...]:
    """The model fields among the fieldsets' names (the others are the form's own fields and
    read-only displays), in the order the page shows them."""
    names = [n for _, opts in fieldsets for item in opts["fields"] for n in _names(item)]
    model = {f.name for f in Job._meta.get_fields() if getattr(f, "editable", False)}
    return tuple(n for n in names if n in model)


def _names(item: str | tuple[str, ...]) -> tuple[str, ...]:
    return (item,) if isinstance(item, str) else tuple(item)


EDITABLE = _editable(FIELDSETS)
# Durations typed in words ("15 minutes") and shown back in words.
DURATION_FIELDS = (
    "run_every",
    "timeout",
    "misfire_grace",
    "jitter",
    "alert_after",
    "retry_backoff",
    "retry_backoff_max",
)
KEEP_HELP = "Leave empty to keep the current code object: {summary}."
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


def in_words(form: forms.BaseForm, text: str) -> str:
    """A message of the model's checks, with each field name replaced by the form's label:
    "weekly_days are set, so weekly_time is required" becomes "“Weekdays” are set, so
    “Weekly time” is required"."""

    def label(name: str) -> str:
        field = form.fields.get(name)
        return str(field.label) if field is not None and field.label else field_label(name)

    return field_words(text, label)


def label_parts(form: forms.BaseForm) -> None:
    """Name the date and the time input of each split date-and-time field for screen readers
    (the form's one label points at the first input only)."""
    for field in form.fields.values():
        parts = getattr(field.widget, "widgets", None)
        if parts and len(parts) == 2:
            label = str(field.label or "")
            parts[0].attrs.setdefault("aria-label", f"{label}: date")
            parts[1].attrs.setdefault("aria-label", f"{label}: time")


class JobAdminForm(forms.ModelForm):
    """The Job change form, plus the job's code: a registered function and JSON arguments."""

    function = forms.ChoiceField(required=False, label="Function")
    arguments = forms.CharField(
        required=False,
        label="Arguments",
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60, "placeholder": '["weekly", 3]'}),
        help_text='Positional arguments, as a JSON list, e.g. ["ops", 3].',
    )
    keyword_arguments = forms.CharField(
        required=False,
        label="Keyword arguments",
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60, "placeholder": '{"to": "ops"}'}),
        help_text='Keyword arguments, as a JSON object, e.g. {"copies": 2}.',
    )

    class Meta:
        model = Job
        fields = EDITABLE
        field_classes = dict.fromkeys(DURATION_FIELDS, HumanDurationField)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.stored = stored_code.read(
            self.instance._job_code, job=self.instance.pk, version=self.instance._code_version
        )
        field = self.fields["function"]
        functions = registry.registered()
        field.choices = [("", "---------")] + [(f.path, f.choice_label()) for f in functions]
        adding = self.instance._state.adding
        field.required = adding
        if adding:
            field.help_text = NEW_HELP
        elif self.stored.editable:
            field.help_text = "Change the function or its arguments to replace the job's code."
            self.initial.setdefault("function", self.stored.path)
            self.initial.setdefault("arguments", stored_code.formatted(self.stored.args))
            self.initial.setdefault("keyword_arguments", stored_code.formatted(self.stored.kwargs))
        else:
            field.help_text = KEEP_HELP.format(summary=self.stored.summary())
        if not functions:
            field.help_text = NONE_REGISTERED
        label_parts(self)
        if "cron" in self.fields:
            typed = self.data.get("cron") if self.is_bound else self.instance.cron
            words = describe_cron(str(typed or ""))
            if words:
                self.fields["cron"].help_text = format_html(
                    '{}<br><span class="akjob-cron-words" id="akjob-cron-words">Means: {}</span>',
                    self.fields["cron"].help_text,
                    words,
                )

    def full_clean(self) -> None:
        super().full_clean()
        # Every error on a field names it: Django's own messages ("Enter a whole number.") get
        # the field's label in front.
        for name, errors in list((self._errors or {}).items()):
            field = self.fields.get(name)
            if field is None or not field.label:
                continue
            label = str(field.label)
            # In place: the list keeps its field id (for the error's id attribute).
            errors.data = [m if label.lower() in m.lower() else f"{label}: {m}" for m in errors]

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

    def code_changed(self) -> bool:
        """Whether the function or its arguments differ from the stored code."""
        data = self.cleaned_data
        if not self.stored.editable:
            return True
        return (data.get("function"), data.get("arguments"), data.get("keyword_arguments")) != (
            self.stored.path,
            self.stored.args,
            self.stored.kwargs,
        )

    def _post_clean(self) -> None:
        # The model's clean() checks the day sets against their times, so stage the chosen
        # sets on the instance first; Job.save() applies them, save_m2m() then finds no change.
        for field, prop in DAY_SETS.items():
            if field in self.cleaned_data:
                setattr(self.instance, prop, [obj.pk for obj in self.cleaned_data[field]])
        path = self.cleaned_data.get("function")
        if path and not self.errors and self.code_changed():
            args = self.cleaned_data.get("arguments", [])
            kwargs = self.cleaned_data.get("keyword_arguments", {})
            try:
                self.instance.job_code_object = JobCallable(path, *args, **kwargs)
            except InvalidJobCode as exc:
                self.add_error("function", exc.messages)
        super()._post_clean()

    def _update_errors(self, errors: ValidationError) -> None:
        # The model speaks of its field names: say them as the form's labels. Errors about
        # fields the form lacks (dates, housekeeping) go to the top of the form.
        if hasattr(errors, "error_dict"):
            moved: dict[str, list[Any]] = {}
            for field, messages in errors.error_dict.items():
                if field == "job_code_object":
                    field = "function"
                texts = [in_words(self, m) for e in messages for m in e.messages]
                if field != NON_FIELD_ERRORS and field not in self.fields:
                    label = field_label(field)
                    moved.setdefault(NON_FIELD_ERRORS, []).extend(f"{label}: {t}" for t in texts)
                else:
                    moved.setdefault(field, []).extend(texts)
            errors = ValidationError(moved)
        super()._update_errors(errors)
