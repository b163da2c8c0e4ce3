"""A declared Django task for the acceptance tests: an app's ``tasks`` module, which akjob
imports itself before it syncs. Each run (in the task worker) appends its result id and the time
to the file ``INCODE_STAMPS`` names."""

from __future__ import annotations

import time

from django.conf import settings

import akjob
from tests.taskfuncs import task


@akjob.scheduled(every="2s", name="task stamp every 2 s")
@task(takes_context=True)
def stamp_task(context) -> str:
    with open(settings.INCODE_STAMPS, "a") as out:
        out.write(f"{context.task_result.id} {time.time():.6f}\n")
    return context.task_result.id
