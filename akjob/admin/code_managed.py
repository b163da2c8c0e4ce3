"""The admin of jobs declared in code (docs/schedules-in-code.md): a mixin for the job admin.

A code-managed job's page says where it is declared (module and function, and its key), and its
schedule, limits, name, dates and code are read-only: the code is their source, and the next
sync would put them back. Enabling and disabling it, and Run now, stay: whether it runs is the
operator's, and a sync leaves that as the operator set it.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html

__all__ = ["CodeManagedJobAdminMixin"]

# The job form's own fields (the code object, made from a registered function): gone for a
# code-managed job, whose code the declaration gives.
FORM_ONLY = ("function", "arguments", "keyword_arguments")
# What stays editable on a code-managed job.
OPERATOR_FIELDS = ("job_enabled",)
TITLE = "Declared in code"
EXPLANATION = (
    "This job is declared in code. Its schedule, limits and code come from the declaration and "
    "change when the code does (at the next migrate, akjobd start or akjobd sync). Enabling "
    "or disabling it here stands across syncs."
)


class CodeManagedJobAdminMixin:
    """Mixed into the job admin (before ``admin.ModelAdmin``)."""

    @admin.display(description="declared in")
    def declared_in_code(self, job: Any) -> str:
        path = job.declared_path or "?"
        removed = ""
        if job.code_removed is not None:
            removed = f" — removed from the code on {job.code_removed:%Y-%m-%d %H:%M:%S} UTC"
        return format_html(
            '<code class="akjob-declared">{}</code> (key <code>{}</code>){}',
            path,
            job.code_key,
            removed,
        )

    @admin.display(description="in code", boolean=True, ordering="code_key")
    def in_code_column(self, job: Any) -> bool:
        return job.code_key is not None

    def get_list_display(self, request: HttpRequest) -> Any:
        shown = list(super().get_list_display(request))  # type: ignore[misc]
        return [*shown[:1], "in_code_column", *shown[1:]]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = list(super().get_readonly_fields(request, obj))  # type: ignore[misc]
        if obj is None or obj.code_key is None:
            return fields
        form_fields = self.form._meta.fields  # type: ignore[attr-defined]
        owned = [f for f in form_fields if f not in OPERATOR_FIELDS and f not in fields]
        return [*fields, *owned, "declared_in_code"]

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        fieldsets = super().get_fieldsets(request, obj)  # type: ignore[misc]
        if obj is None or obj.code_key is None:
            return fieldsets
        kept = [
            (title, {**opts, "fields": [f for f in opts["fields"] if f not in FORM_ONLY]})
            for title, opts in fieldsets
        ]
        declared = (TITLE, {"fields": ("declared_in_code",), "description": EXPLANATION})
        return [declared, *kept]

    def get_form(self, request: HttpRequest, obj: Any = None, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, **kwargs)  # type: ignore[misc]
        if obj is None or obj.code_key is None:
            return form

        class CodeManagedForm(form):  # type: ignore[valid-type, misc]
            """The form without the code fields: a POST cannot replace the declared code."""

            def __init__(self, *args: Any, **kw: Any) -> None:
                super().__init__(*args, **kw)
                for name in FORM_ONLY:
                    self.fields.pop(name, None)

        return CodeManagedForm

    def get_inline_instances(self, request: HttpRequest, obj: Any = None) -> Any:
        inlines = super().get_inline_instances(request, obj)  # type: ignore[misc]
        if obj is not None and obj.code_key is not None:
            for inline in inlines:  # fresh instances per request: shown, not editable
                inline.has_add_permission = _no
                inline.has_change_permission = _no
                inline.has_delete_permission = _no
        return inlines


def _no(*args: Any, **kwargs: Any) -> bool:
    return False
