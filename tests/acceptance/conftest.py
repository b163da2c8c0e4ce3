"""Fixtures of the acceptance tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.acceptance.sites import DATABASES, Site, sites


@pytest.fixture(params=DATABASES)
def site(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Site]:
    """A throw-away project on SQLite, PostgreSQL and MariaDB in turn (a server whose driver is
    not installed, as in the Django 6 environment, is skipped)."""
    driver = {"postgres": "psycopg", "mysql": "MySQLdb"}.get(request.param)
    if driver:
        pytest.importorskip(driver, reason=f"the {request.param} driver is not installed")
    yield from sites(request.param, tmp_path)
