"""akjob's system checks and their stable ids."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
from django.core import checks
from django.core.management import call_command
from django.db import connection
from django.test import override_settings

from akjob import checks as akjob_checks


@pytest.fixture(autouse=True)
def no_env_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AKJOB_PID_DIR", "AKJOB_PID_NAME", "AKJOB_LOG_DIR"):
        monkeypatch.delenv(name, raising=False)


def ids(messages: list[checks.CheckMessage]) -> list[str]:
    return [m.id for m in messages if m.id]


def test_akjob_checks_are_registered() -> None:
    registered = checks.registry.registry.get_checks()
    for check in (
        akjob_checks.check_settings,
        akjob_checks.check_directories,
        akjob_checks.check_time_zone,
        akjob_checks.check_sqlite_daemons,
    ):
        assert check in registered


def test_the_test_settings_pass(tmp_path: Path) -> None:
    with override_settings(AKJOB_PID_DIR=str(tmp_path / "run"), AKJOB_LOG_DIR=str(tmp_path)):
        call_command("check", "--tag", "akjob", "--fail-level", "WARNING")


def test_w001_use_tz_off() -> None:
    with override_settings(USE_TZ=False):
        assert ids(akjob_checks.check_time_zone()) == ["akjob.W001"]
    assert akjob_checks.check_time_zone() == []


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("AKJOB_MAX_WORKERS", 0),
        ("AKJOB_MAX_WORKERS", "4"),
        ("AKJOB_MAX_WORKERS", True),
        ("AKJOB_RUNS_KEPT", -1),
        ("AKJOB_STOP_GRACE", timedelta(seconds=-1)),
        ("AKJOB_STOP_GRACE", "30"),
        ("AKJOB_HEARTBEAT", 0),
        ("AKJOB_LEASE", timedelta(0)),
        ("AKJOB_POLL", None),
        ("AKJOB_PID_NAME", ""),
        ("AKJOB_PID_NAME", "run/akjobd.pid"),
        ("AKJOB_DAEMONS", 0),
        ("AKJOB_CATCH_UP_MAX", 0),
        ("AKJOB_CATCH_UP_MAX", "100"),
    ],
)
def test_e001_bad_setting(name: str, value: object) -> None:
    with override_settings(**{name: value}):
        messages = akjob_checks.check_settings()
    assert ids(messages) == ["akjob.E001"]
    assert name in messages[0].msg


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("AKJOB_MAX_WORKERS", 8),
        ("AKJOB_STOP_GRACE", 0),
        ("AKJOB_STOP_GRACE", timedelta(minutes=1)),
        ("AKJOB_POLL", 0.5),
        ("AKJOB_PID_NAME", "other.pid"),
        ("AKJOB_DAEMONS", 3),
    ],
)
def test_e001_good_setting(name: str, value: object) -> None:
    with override_settings(**{name: value}):
        assert akjob_checks.check_settings() == []


def test_e002_pid_directory_is_a_file(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with override_settings(AKJOB_PID_DIR=str(blocker), AKJOB_LOG_DIR=str(tmp_path / "logs")):
        assert ids(akjob_checks.check_directories()) == ["akjob.E002"]
    with override_settings(AKJOB_PID_DIR=str(blocker / "sub"), AKJOB_LOG_DIR=str(tmp_path)):
        assert ids(akjob_checks.check_directories()) == ["akjob.E002"]


def test_e003_log_directory_is_a_file(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with override_settings(AKJOB_PID_DIR=str(tmp_path), AKJOB_LOG_DIR=str(blocker / "logs")):
        messages = akjob_checks.check_directories()
    assert ids(messages) == ["akjob.E003"]
    assert "not a directory" in messages[0].msg


def test_environment_variables_are_checked_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("AKJOB_LOG_DIR", str(blocker))
    with override_settings(AKJOB_PID_DIR=str(tmp_path)):
        assert ids(akjob_checks.check_directories()) == ["akjob.E003"]


def test_directories_that_do_not_exist_yet_are_fine(tmp_path: Path) -> None:
    with override_settings(
        AKJOB_PID_DIR=str(tmp_path / "a" / "b"), AKJOB_LOG_DIR=str(tmp_path / "c")
    ):
        assert akjob_checks.check_directories() == []
    assert not (tmp_path / "a").exists()  # a check creates nothing


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_e002_unwritable_directory(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    try:
        with override_settings(AKJOB_PID_DIR=str(locked / "run"), AKJOB_LOG_DIR=str(tmp_path)):
            assert ids(akjob_checks.check_directories()) == ["akjob.E002"]
    finally:
        locked.chmod(0o700)


def test_w002_several_daemons_on_sqlite() -> None:
    with override_settings(AKJOB_DAEMONS=2):
        messages = akjob_checks.check_sqlite_daemons()
    sqlite = connection.vendor == "sqlite"
    assert ids(messages) == (["akjob.W002"] if sqlite else [])
    with override_settings(AKJOB_DAEMONS=1):
        assert akjob_checks.check_sqlite_daemons() == []
    assert akjob_checks.check_sqlite_daemons() == []
