"""akjob in the Django admin: one module per page.

- :mod:`~akjob.admin.jobs`: the job list and the job pages (with :mod:`~akjob.admin.job_form`,
  :mod:`~akjob.admin.job_page`, :mod:`~akjob.admin.stored_code`, and
  :mod:`~akjob.admin.code_managed` for jobs declared in code);
- :mod:`~akjob.admin.upcoming`: the "Upcoming runs" page (also listed as its own entry);
- :mod:`~akjob.admin.runs`: the run history;
- :mod:`~akjob.admin.daemons`: the akjobd daemons;
- :mod:`~akjob.admin.dashboard`: the dashboard's entry (its page is :mod:`akjob.dashboard`).

:mod:`~akjob.admin.common` holds what they share: the time-zone rule and status badges. The
words shared with ``manage.py akjobd`` are in :mod:`akjob.text`. A new page is a new module
imported below.
"""

from akjob.admin import daemons, dashboard, jobs, runs, upcoming_entry

__all__ = ["daemons", "dashboard", "jobs", "runs", "upcoming_entry"]
