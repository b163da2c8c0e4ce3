"""The one error the schedule engine raises for bad input."""

from __future__ import annotations


class InvalidSchedule(ValueError):
    """A schedule value breaks a rule of docs/schedule.md.

    ``field`` is the name of the model field the value comes from (``run_every``,
    ``active_months`` …), so that the Django layer can report it against that field; ``rule``
    says what is wrong, in words meant for the user. ``str()`` gives the rule alone.
    """

    def __init__(self, field: str, rule: str) -> None:
        super().__init__(rule)
        self.field = field
        self.rule = rule

    @property
    def message(self) -> str:
        return self.rule

    def __repr__(self) -> str:
        return f"InvalidSchedule({self.field!r}, {self.rule!r})"
