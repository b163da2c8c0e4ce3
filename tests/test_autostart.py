"""When ``AppConfig.ready()`` starts akjobd: the rule, and the process it starts."""

from __future__ import annotations

import socket
import subprocess
import sys
from typing import Any

import pytest
from django.core.signals import request_started
from django.db import close_old_connections

from akjob.daemon import autostart
from akjob.daemon.autostart import should_autostart
from tests.acceptance.project import wait_for

VENV = "/srv/app/.venv/bin"
RUN_MAIN = {"RUN_MAIN": "true"}

CASES = [
    # (argv, environ, expected, why)
    (["manage.py", "runserver"], RUN_MAIN, True, "runserver, the reloaded child that serves"),
    (["manage.py", "runserver"], {}, False, "runserver, the reloader parent"),
    (["manage.py", "runserver", "--noreload"], {}, True, "runserver without reloader"),
    (["/srv/app/manage.py", "runserver", "0:8000"], RUN_MAIN, True, "path and address"),
    (["django-admin", "runserver"], RUN_MAIN, True, "django-admin"),
    (["/usr/lib/python3/site-packages/django/__main__.py", "runserver"], RUN_MAIN, True, "-m"),
    (["manage.py", "runserver_plus"], {"WERKZEUG_RUN_MAIN": "true"}, True, "runserver_plus"),
    (["manage.py", "runserver_plus"], RUN_MAIN, False, "runserver_plus parent"),
    (["manage.py", "migrate"], RUN_MAIN, False, "migrations"),
    (["manage.py", "makemigrations"], {}, False, "migrations"),
    (["manage.py", "shell"], {}, False, "another command"),
    (["manage.py", "akjobd", "start"], {}, False, "akjobd itself"),
    (["manage.py", "test"], {}, False, "manage.py test"),
    (["manage.py"], {}, False, "help"),
    (["manage.py", "runserver"], {**RUN_MAIN, "AKJOB_START_DAEMON": "False"}, False, "off"),
    (["manage.py", "runserver"], {**RUN_MAIN, "AKJOB_START_DAEMON": "no"}, False, "off"),
    (["manage.py", "runserver"], {**RUN_MAIN, "AKJOB_START_DAEMON": " OFF "}, False, "off"),
    (["manage.py", "runserver"], {**RUN_MAIN, "AKJOB_START_DAEMON": "0"}, False, "off"),
    (["manage.py", "runserver"], {**RUN_MAIN, "AKJOB_START_DAEMON": "True"}, True, "on"),
    (["manage.py", "migrate"], {"AKJOB_START_DAEMON": "True"}, False, "never in migrations"),
    (["manage.py", "runserver"], {**RUN_MAIN, "PYTEST_CURRENT_TEST": "x"}, False, "pytest"),
    (["manage.py", "runserver"], {**RUN_MAIN, "PYTEST_VERSION": "8"}, False, "pytest"),
    (["manage.py", "runserver"], {**RUN_MAIN, "AKJOB_IN_DAEMON": "1"}, False, "in akjobd"),
    ([f"{VENV}/gunicorn", "proj.wsgi"], {}, True, "gunicorn"),
    ([f"{VENV}/uvicorn", "proj.asgi:application"], {}, True, "uvicorn"),
    (["/usr/lib/python3/site-packages/gunicorn/__main__.py"], {}, True, "python -m gunicorn"),
    (["uwsgi"], {}, True, "uWSGI"),
    (["mod_wsgi"], {}, True, "mod_wsgi"),
    (["daphne", "proj.asgi:application"], {}, True, "daphne"),
    ([f"{VENV}/gunicorn"], {"AKJOB_START_DAEMON": "false"}, False, "gunicorn, off"),
    ([f"{VENV}/gunicorn"], {"AKJOB_IN_DAEMON": "1"}, False, "job process"),
    ([f"{VENV}/pytest"], {}, False, "pytest by name"),
    (["/x/site-packages/pytest/__main__.py"], {}, False, "python -m pytest"),
    ([f"{VENV}/celery", "-A", "proj", "worker"], {}, False, "unknown program"),
    ([f"{VENV}/celery"], {"AKJOB_START_DAEMON": "TRUE"}, True, "unknown program, forced"),
    (["myscript.py"], {}, False, "a script"),
    (["-c"], {}, False, "python -c (multiprocessing spawn)"),
    ([""], {}, False, "embedded interpreter"),
    ([], {}, False, "no argv"),
]


@pytest.mark.parametrize(("argv", "environ", "expected", "why"), CASES)
def test_should_autostart(
    argv: list[str], environ: dict[str, str], expected: bool, why: str
) -> None:
    assert should_autostart(argv, environ) is expected, why


class FakeProcess:
    def __init__(self, args: list[str], **kwargs: Any) -> None:
        self.args = args
        self.kwargs = kwargs
        self.waited = False

    def wait(self) -> int:
        self.waited = True
        return 0


def test_maybe_autostart_starts_akjobd_start_in_its_own_session() -> None:
    started: list[FakeProcess] = []

    def popen(args: list[str], **kwargs: Any) -> FakeProcess:
        started.append(FakeProcess(args, **kwargs))
        return started[-1]

    process = autostart.maybe_autostart(
        ["gunicorn", "proj.wsgi"],
        {"PATH": "/usr/bin"},
        modules={},
        popen=popen,
        serving=lambda launch: launch(),  # as if it served at once
    )
    assert process is started[0]
    assert process.args == [sys.executable, "-m", "django", "akjobd", "start"]
    assert process.kwargs["start_new_session"] is True
    assert process.kwargs["stdin"] == subprocess.DEVNULL
    env = process.kwargs["env"]
    assert env["DJANGO_SETTINGS_MODULE"] == "tests.settings"
    assert env["PATH"] == "/usr/bin"
    assert all(p in env["PYTHONPATH"].split(":") for p in sys.path if p)


def test_maybe_autostart_does_nothing_when_the_rule_says_no() -> None:
    def popen(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("must not start")

    assert autostart.maybe_autostart(["manage.py", "migrate"], {}, modules={}, popen=popen) is None
    # and never while pytest is imported, whatever argv says
    assert autostart.maybe_autostart(["gunicorn"], {}, popen=popen) is None


def test_the_command_started_is_a_working_manage_py_equivalent() -> None:
    result = subprocess.run(
        [*autostart.autostart_command()[:-1], "--help"],
        capture_output=True,
        text=True,
        env={"DJANGO_SETTINGS_MODULE": "tests.settings", "PYTHONPATH": ":".join(sys.path)},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "reloadfixture" in result.stdout


# -- a server starts akjobd once it serves ---------------------------------------------------


def test_a_server_waits_until_it_serves_a_forced_program_does_not() -> None:
    started: list[list[str]] = []
    waiting: list[Any] = []

    def popen(args: list[str], **kwargs: Any) -> FakeProcess:
        started.append(args)
        return FakeProcess(args, **kwargs)

    autostart.maybe_autostart(
        ["gunicorn", "proj.wsgi"], {}, modules={}, popen=popen, serving=waiting.append
    )
    assert started == [] and len(waiting) == 1
    waiting[0]()
    assert len(started) == 1
    forced = autostart.maybe_autostart(
        ["celery"], {"AKJOB_START_DAEMON": "1"}, modules={}, popen=popen, serving=waiting.append
    )
    assert isinstance(forced, FakeProcess) and len(waiting) == 1


def test_listening_sees_a_listening_socket_and_nothing_else(tmp_path) -> None:
    with socket.socket() as bound, socket.socket(socket.AF_UNIX) as unix:
        bound.bind(("127.0.0.1", 0))
        assert bound.fileno() not in autostart.listening_fds()  # bound, not serving
        bound.listen()
        unix.bind(str(tmp_path / "sock"))
        unix.listen()
        assert {bound.fileno(), unix.fileno()} <= autostart.listening_fds()
        assert autostart.listening()


def test_when_serving_fires_once_on_listening() -> None:
    fired: list[int] = []
    fire = autostart.when_serving(lambda: fired.append(1), every=0.01)
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        wait_for(lambda: fired, timeout=10, what="the launch")
    assert fire() is False  # a request now changes nothing
    assert fired == [1]


def test_when_serving_fires_on_the_first_request() -> None:
    fired: list[int] = []
    autostart.when_serving(lambda: fired.append(1), every=3600)
    request_started.disconnect(close_old_connections)  # as Django's test client does
    try:
        request_started.send(sender=None)
        request_started.send(sender=None)
    finally:
        request_started.connect(close_old_connections)
    assert fired == [1]
