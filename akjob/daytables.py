"""The contents of the DayOfMonth, DayOfWeek and Months tables (used by the data migration and by
``akjobd reloadfixture``)."""

from __future__ import annotations

from typing import Any

ROWS = {"DayOfMonth": ("day", range(1, 32)), "DayOfWeek": ("day", range(1, 8))}
ROWS["Months"] = ("month", range(1, 13))


def fill(get_model: Any, *, clear: bool = False) -> int:
    """Insert the missing rows (after deleting every row if ``clear``); return rows written.

    ``get_model(name)`` returns the model class: ``apps.get_model`` in a migration, or a lookup in
    :mod:`akjob.models`. Clearing a table also clears the job day sets that point at it.
    """
    written = 0
    for name, (field, numbers) in ROWS.items():
        model = get_model(name)
        if clear:
            model.objects.all().delete()
        have = set(model.objects.values_list(field, flat=True))
        missing = [model(**{field: n}) for n in numbers if n not in have]
        model.objects.bulk_create(missing)
        written += len(missing)
    return written
