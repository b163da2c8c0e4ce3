"""Shared fixtures. Tests that need a database server skip when it is unreachable, unless
AKJOB_REQUIRE_SERVICES=1 (set by .ci/run), which turns the skip into a failure."""

from __future__ import annotations

import os
import socket

import pytest

REQUIRE = os.environ.get("AKJOB_REQUIRE_SERVICES") == "1"
SERVERS = {
    "postgres": ("127.0.0.1", 5432),
    "mysql": ("127.0.0.1", 3306),
    "redis": ("127.0.0.1", 6379),
}


def server_up(name: str) -> bool:
    try:
        with socket.create_connection(SERVERS[name], timeout=1):
            return True
    except OSError:
        return False


def require_server(name: str) -> None:
    """Skip (or, when services are required, fail) unless the named server answers."""
    if server_up(name):
        return
    if REQUIRE:
        pytest.fail(f"{name} is required (AKJOB_REQUIRE_SERVICES=1) but not reachable")
    pytest.skip(f"{name} server not reachable")


def pytest_runtest_setup(item: pytest.Item) -> None:
    for name in SERVERS:
        if item.get_closest_marker(name):
            require_server(name)
