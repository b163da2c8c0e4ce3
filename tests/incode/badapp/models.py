"""A bad declaration in a module every process imports at start-up (an app's models): the
process starts all the same, and ``manage.py check`` names the function and the option."""

from __future__ import annotations

import akjob


@akjob.scheduled(every="soon", name="nightly")
def nightly() -> None:
    return None
