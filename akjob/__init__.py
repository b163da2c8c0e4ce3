"""akjob: a job scheduler for Django. Jobs live in the project's database; akjobd runs them."""

from __future__ import annotations

__version__ = "0.1.0"
