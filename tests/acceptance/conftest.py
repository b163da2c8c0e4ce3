"""Fixtures of the acceptance tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.acceptance.sites import DATABASES, Site, sites


@pytest.fixture(params=DATABASES)
def site(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Site]:
    """A throw-away project on SQLite, PostgreSQL and MariaDB in turn."""
    yield from sites(request.param, tmp_path)
