"""Starting akjobd when the web application starts (from ``AppConfig.ready()``).

The rule (:func:`should_autostart`), in order:

1. ``AKJOB_START_DAEMON`` set to ``false``/``0``/``no``/``off`` (any case): never.
2. Inside akjobd or one of its job processes (``AKJOB_IN_DAEMON`` set): never.
3. Under a test runner (pytest, ``manage.py test``): never.
4. A management command (``manage.py``, ``django-admin``, ``python -m django``): only
   ``runserver`` (and django-extensions' ``runserver_plus``), and only in the process that serves
   requests: the autoreloader's child, or the single process of ``--noreload``. Never for
   ``migrate``, ``shell``, ``akjobd`` or any other command.
5. Otherwise, a known WSGI/ASGI server (gunicorn, uWSGI, uvicorn, daphne, hypercorn, granian,
   waitress, mod_wsgi): yes. Any other program that sets up Django (a script, a Celery worker,
   an unknown server) only when ``AKJOB_START_DAEMON`` is ``true``/``1``/``yes``/``on``.

A server starts akjobd only once it serves (:func:`when_serving`): as soon as the process
holds a listening socket, or at its first request, whichever comes first. A server that fails
to start (``runserver`` on a port already in use) never listens and starts nothing. A program
forced with ``AKJOB_START_DAEMON=true`` that is no server starts akjobd at once.

Starting twice is harmless: the started ``akjobd start`` takes the pid-file lock or says akjobd
already runs (every gunicorn worker may try; one wins). See docs/daemon.md.
"""

from __future__ import annotations

import logging
import os
import socket
import stat
import subprocess
import sys
import threading
from collections.abc import Callable, Container, Mapping, Sequence
from pathlib import Path
from typing import Any

from akjob.daemon.runtime import IN_DAEMON_ENV

logger = logging.getLogger("akjob.daemon")

ENV = "AKJOB_START_DAEMON"
LISTEN_POLL = 0.2  # seconds between looks for the server's listening socket
DISPATCH_UID = "akjob-autostart"
FALSE_VALUES = frozenset({"false", "0", "no", "off"})
TRUE_VALUES = frozenset({"true", "1", "yes", "on"})
SERVE_COMMANDS = {"runserver": "RUN_MAIN", "runserver_plus": "WERKZEUG_RUN_MAIN"}
MANAGE_PROGRAMS = frozenset({"manage.py", "django-admin", "django-admin.py"})
SERVERS = frozenset(
    {
        "gunicorn",
        "uwsgi",
        "uvicorn",
        "daphne",
        "hypercorn",
        "granian",
        "waitress-serve",
        "waitress",
        "mod_wsgi",
        "mod_wsgi-express",
    }
)


def is_server(argv: Sequence[str]) -> bool:
    """Whether ``argv`` is a web server (``runserver`` or a known WSGI/ASGI server)."""
    command = _management_command(argv)
    if command is not None:
        return command in SERVE_COMMANDS
    return _program(argv) in SERVERS


def should_autostart(argv: Sequence[str], environ: Mapping[str, str]) -> bool:
    """Whether this process, run as ``argv`` with ``environ``, should start akjobd."""
    setting = environ.get(ENV, "").strip().lower()
    if setting in FALSE_VALUES or environ.get(IN_DAEMON_ENV):
        return False
    if _under_test_runner(argv, environ):
        return False
    command = _management_command(argv)
    if command is not None:
        reloader_env = SERVE_COMMANDS.get(command)
        if reloader_env is None:
            return False
        return environ.get(reloader_env) == "true" or "--noreload" in argv[2:]
    if setting in TRUE_VALUES:
        return True
    return _program(argv) in SERVERS


def _program(argv: Sequence[str]) -> str:
    """The program: ``gunicorn`` for ``.../bin/gunicorn`` and for ``.../gunicorn/__main__.py``."""
    if not argv or not argv[0]:
        return ""
    path = Path(argv[0])
    if path.name == "__main__.py":
        return path.parent.name
    return path.name.removesuffix(".exe")


def _management_command(argv: Sequence[str]) -> str | None:
    """The subcommand when this is ``manage.py``/``django-admin``, else None."""
    program = _program(argv)
    if program not in MANAGE_PROGRAMS and program != "django":
        return None
    return argv[1] if len(argv) > 1 else "help"


def _under_test_runner(argv: Sequence[str], environ: Mapping[str, str]) -> bool:
    if "PYTEST_CURRENT_TEST" in environ or "PYTEST_VERSION" in environ:
        return True
    program = _program(argv)
    return program in {"pytest", "py.test", "_pytest"} or _management_command(argv) == "test"


def autostart_command() -> list[str]:
    """``python -m django akjobd start``, with the Python of this process."""
    return [_python(), "-m", "django", "akjobd", "start"]


def maybe_autostart(
    argv: Sequence[str] | None = None,
    environ: Mapping[str, str] | None = None,
    *,
    modules: Container[str] | None = None,
    popen: Callable[..., Any] = subprocess.Popen,
    serving: Callable[[Callable[[], Any]], Any] | None = None,
) -> Any:
    """Start ``akjobd start`` in a separate process when :func:`should_autostart` says so; for a
    server, once it serves (``serving``, default :func:`when_serving`).

    Returns what ``serving`` returns for a server, the process otherwise (None when nothing is
    to start). The web process never waits for akjobd.
    """
    from django.conf import settings

    from akjob.conf import akjob_settings

    argv = sys.argv if argv is None else argv
    environ = os.environ if environ is None else environ
    modules = sys.modules if modules is None else modules
    if "pytest" in modules or not should_autostart(argv, environ):
        return None
    settings_module = getattr(settings, "SETTINGS_MODULE", None) or environ.get(
        "DJANGO_SETTINGS_MODULE"
    )
    if not settings_module:
        logger.warning("akjob: cannot start akjobd: no settings module to give it")
        return None
    env = dict(environ)
    env["DJANGO_SETTINGS_MODULE"] = settings_module
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    base = akjob_settings.base_dir
    cwd = str(base) if base.is_dir() else None

    def launch() -> Any:
        process = popen(
            autostart_command(),
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            close_fds=True,
        )
        # Reap it when it exits, so it never lingers as a zombie of the web process.
        threading.Thread(target=process.wait, name="akjob-autostart", daemon=True).start()
        logger.info("akjob: starting akjobd in the background (%s=False to disable)", ENV)
        return process

    if not is_server(argv):
        return launch()
    return (serving or when_serving)(launch)


def when_serving(launch: Callable[[], Any], *, every: float = LISTEN_POLL) -> Callable[[], bool]:
    """Call ``launch`` once, as soon as this process listens on a socket or serves a request.

    A background thread looks for a listening socket every ``every`` seconds, for as long as the
    process lives; Django's ``request_started`` signal covers servers whose threads never get to
    run (uWSGI without ``enable-threads``). Returns the function that fires it (idempotent).
    """
    from django.core.signals import request_started

    lock = threading.Lock()
    fired = threading.Event()

    def fire(*args: Any, **kwargs: Any) -> bool:
        with lock:
            if fired.is_set():
                return False
            fired.set()
        request_started.disconnect(fire, dispatch_uid=DISPATCH_UID)
        launch()
        return True

    def watch() -> None:
        while not fired.wait(every):
            if listening():
                fire()

    request_started.connect(fire, weak=False, dispatch_uid=DISPATCH_UID)
    threading.Thread(target=watch, name="akjob-autostart-watch", daemon=True).start()
    return fire


def listening() -> bool:
    """Whether this process holds a listening socket (TCP or Unix): a server serves once it
    binds and listens, and one that could not bind never does."""
    return bool(listening_fds())


def listening_fds() -> set[int]:
    """The descriptors of this process's listening sockets."""
    found = set()
    for fd in _open_fds():
        try:
            if not stat.S_ISSOCK(os.fstat(fd).st_mode):
                continue
            with socket.socket(fileno=os.dup(fd)) as sock:
                if sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
                    found.add(fd)
        except OSError:
            continue  # closed meanwhile, or not a socket this platform can ask
    return found


def _open_fds() -> list[int]:
    for directory in ("/proc/self/fd", "/dev/fd"):
        try:
            return [int(name) for name in os.listdir(directory) if name.isdigit()]
        except OSError:
            continue
    return []


def _python() -> str:
    """This interpreter, even inside uWSGI or mod_wsgi where ``sys.executable`` is the server."""
    exe = sys.executable or ""
    if Path(exe).name.startswith("python"):
        return exe
    for name in ("python3", "python"):
        candidate = Path(sys.prefix) / "bin" / name
        if candidate.exists():
            return str(candidate)
    return exe or "python3"
