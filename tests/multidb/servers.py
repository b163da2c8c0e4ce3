"""The machine's PostgreSQL and MariaDB servers, as the multi-daemon tests use them: a fresh
database per test (created and dropped by the test), plain SQL against it, and stopping and
starting the server itself for the outage tests."""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"


@dataclass
class Database:
    """One throw-away database on the server ``vendor`` ("postgres" or "mysql")."""

    vendor: str
    name: str

    @classmethod
    def fresh(cls, vendor: str) -> Database:
        return cls(vendor, f"akjob_t_{uuid.uuid4().hex[:12]}")

    @property
    def settings(self) -> dict[str, Any]:
        """The Django ``DATABASES["default"]`` entry for it."""
        if self.vendor == "postgres":
            return {
                "ENGINE": "django.db.backends.postgresql",
                "NAME": self.name,
                "USER": "postgres",
                "HOST": HOST,
                "PORT": "5432",
            }
        return {
            "ENGINE": "django.db.backends.mysql",
            "NAME": self.name,
            "USER": "root",
            "HOST": HOST,
            "PORT": "3306",
            "OPTIONS": {"charset": "utf8mb4"},
        }

    def _connect(self, database: str | None) -> Any:
        if self.vendor == "postgres":
            import psycopg

            return psycopg.connect(
                host=HOST, user="postgres", dbname=database or "postgres", autocommit=True
            )
        import MySQLdb

        kwargs = {"database": database} if database else {}
        conn = MySQLdb.connect(host=HOST, user="root", charset="utf8mb4", **kwargs)
        conn.autocommit(True)
        return conn

    def create(self) -> None:
        with contextlib.closing(self._connect(None)) as conn:
            cursor = conn.cursor()
            if self.vendor == "postgres":
                cursor.execute(f'CREATE DATABASE "{self.name}"')
            else:
                cursor.execute(f"CREATE DATABASE `{self.name}` CHARACTER SET utf8mb4")

    def drop(self) -> None:
        with contextlib.closing(self._connect(None)) as conn:
            cursor = conn.cursor()
            if self.vendor == "postgres":
                cursor.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
            else:
                cursor.execute(f"DROP DATABASE IF EXISTS `{self.name}`")

    def query(self, sql: str, *params: Any) -> list[tuple]:
        """Run one statement (``%s`` placeholders) on a connection of its own; datetimes come
        back aware, in UTC."""
        with contextlib.closing(self._connect(self.name)) as conn:
            cursor = conn.cursor()
            cursor.execute(sql, params or None)
            rows = cursor.fetchall() if cursor.description else []
        return [tuple(_aware(v) for v in row) for row in rows]


def _aware(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value


@contextlib.contextmanager
def fresh_database(vendor: str) -> Iterator[Database]:
    db = Database.fresh(vendor)
    db.create()
    try:
        yield db
    finally:
        db.drop()


# -- stopping and starting the servers (outage tests) ---------------------------------------------


def answers(vendor: str) -> bool:
    """Whether the server accepts a connection and a query now."""
    try:
        Database(vendor, "").query("SELECT 1")
    except Exception:  # noqa: BLE001 - any failure means "not yet"
        return False
    return True


def wait_answers(vendor: str, up: bool, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while answers(vendor) != up:
        if time.monotonic() > deadline:
            state = "answer" if up else "stop answering"
            raise AssertionError(f"{vendor} did not {state} within {timeout} s")
        time.sleep(0.2)


def _pg_cluster() -> list[str]:
    version = sorted(os.listdir("/etc/postgresql"))[0]
    return ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main"]


def stop_server(vendor: str) -> None:
    if vendor == "postgres":
        subprocess.run([*_pg_cluster(), "stop"], check=True, capture_output=True, timeout=60)
    else:
        subprocess.run(
            ["mysqladmin", "-uroot", f"-h{HOST}", "shutdown"],
            check=True,
            capture_output=True,
            timeout=60,
        )
    wait_answers(vendor, False, 60)


def start_server(vendor: str) -> None:
    """Start the server (a no-op when it runs) and wait until it answers."""
    if vendor == "postgres":
        subprocess.run([*_pg_cluster(), "start"], capture_output=True, timeout=60)
    else:
        subprocess.run(
            [
                "start-stop-daemon",
                "--start",
                "--oknodo",
                "--background",
                "--exec",
                "/usr/sbin/mariadbd",
            ],
            capture_output=True,
            timeout=60,
        )
    wait_answers(vendor, True, 90)


def can_control(vendor: str) -> bool:
    """Whether this process may stop and start the server (root, with the tools at hand)."""
    if os.geteuid() != 0:
        return False
    if vendor == "postgres":
        return Path("/etc/postgresql").is_dir() and _which("pg_ctlcluster")
    return Path("/usr/sbin/mariadbd").exists() and _which("mysqladmin")


def _which(name: str) -> bool:
    return any(Path(d, name).exists() for d in os.environ.get("PATH", "").split(os.pathsep))
