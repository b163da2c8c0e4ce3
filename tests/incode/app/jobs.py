"""A declared job for the acceptance tests: an app's ``jobs`` module, which akjob imports
itself before it syncs. Each run appends the time it ran to the file ``INCODE_STAMPS`` names."""

from __future__ import annotations

import time

from django.conf import settings

import akjob


@akjob.scheduled(every="2s", name="stamp every 2 s")
def stamp() -> None:
    with open(settings.INCODE_STAMPS, "a") as out:
        out.write(f"{time.time():.6f}\n")
