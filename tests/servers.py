"""Run pytest against a database server when it answers: ``python -m tests.servers postgres
[pytest args]``. Without the server the pass is skipped, unless AKJOB_REQUIRE_SERVICES=1."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

SERVERS = {"postgres": ("127.0.0.1", 5432), "mysql": ("127.0.0.1", 3306)}


def main(argv: list[str]) -> int:
    name, args = argv[0], argv[1:]
    try:
        socket.create_connection(SERVERS[name], timeout=2).close()
    except OSError:
        if os.environ.get("AKJOB_REQUIRE_SERVICES") == "1":
            print(f"{name} is required (AKJOB_REQUIRE_SERVICES=1) but not reachable")
            return 1
        print(f"{name} not reachable: its test pass is skipped")
        return 0
    env = dict(os.environ, AKJOB_TEST_DB=name)
    return subprocess.call([sys.executable, "-m", "pytest", *args], env=env)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
