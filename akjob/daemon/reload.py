"""Reloading akjobd's code in place, without dropping a run.

Every run has a process forked from akjobd, so a job module akjobd never imported is read afresh
by each run. A module akjobd itself imported at start-up (your settings, your apps, whatever
their ``AppConfig.ready()`` imports) is inherited by every run as it was then. When one of those
files changes on disk (akjobd looks at each heartbeat), or on ``akjobd reload`` (SIGUSR1), akjobd:

1. checks that the code on disk loads (``manage.py check`` in a process of its own); if it does
   not, it logs why and goes on with the code it has;
2. lets its idle processes go and writes what it needs to go on (its record, its runs, their
   processes' descriptors, its locks) into the environment;
3. replaces its program with a fresh one (``exec``): the same pid, the same pid file and locks,
   the same runs, whose processes are still its children and go on undisturbed.

The fresh akjobd adopts the runs, records their outcomes as they end, and forks new processes
from the new code. See docs/deployment.md.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Any

from django.db import connections

from akjob.conf import akjob_settings
from akjob.daemon import runtime

log = logging.getLogger("akjob.daemon")
STATE_ENV = "AKJOB_RESUME"  # where an akjobd that reloads leaves its state for the next image
CHECK_TIMEOUT = 120.0
LAUNCH_DIR = os.getcwd()  # where akjobd was started from (``start`` moves to BASE_DIR after)


def _library_roots() -> list[Path]:
    paths = sysconfig.get_paths()
    roots = {sys.prefix, sys.base_prefix, paths.get("purelib", ""), paths.get("platlib", "")}
    roots |= {paths.get("stdlib", ""), paths.get("platstdlib", "")}
    return [Path(r).resolve() for r in roots if r]


def project_files() -> dict[str, float]:
    """The source files of the project's modules this process imported, with their mtimes:
    modules under ``BASE_DIR``, not those of Python or of installed packages."""
    base = akjob_settings.base_dir.resolve()
    libraries = _library_roots()
    found = {}
    for module in list(sys.modules.values()):
        name = getattr(module, "__file__", None)
        if not name:
            continue
        path = Path(name).resolve()
        if not path.is_relative_to(base) or any(path.is_relative_to(r) for r in libraries):
            continue
        try:
            found[str(path)] = path.stat().st_mtime
        except OSError:
            found[str(path)] = 0.0
    return found


class Watcher:
    """Notices when a project file akjobd imported changed on disk."""

    def __init__(self) -> None:
        self.seen = project_files()

    def changed(self) -> list[str]:
        """The files changed (or gone) since they were last seen."""
        changed = []
        for name, mtime in self.seen.items():
            try:
                now = os.stat(name).st_mtime
            except OSError:
                now = 0.0
            if now != mtime:
                changed.append(name)
        return changed

    def accept(self) -> None:
        """Take the files as they are now as seen (a reload that was refused)."""
        self.seen = project_files()


def command_line() -> list[str]:
    """This akjobd's command line, as ``akjobd run`` with the same options: how the fresh
    program is started. ``start`` daemonized this process already; the fresh one stays put."""
    argv = list(getattr(sys, "orig_argv", [sys.executable, *sys.argv]))
    argv[0] = sys.executable
    for i, arg in enumerate(argv[1:], 1):
        if not arg.startswith("-"):  # the script: found again from any working directory
            argv[i] = os.path.join(LAUNCH_DIR, arg)
            break
    for action in ("start", "restart"):
        if action in argv[2:]:
            argv[argv.index(action, 2)] = "run"
            break
    return argv


def loads_cleanly() -> str | None:
    """Run ``manage.py check`` on the code on disk; None if it loads, else why not."""
    argv = command_line()
    try:
        at = argv.index("akjobd")
    except ValueError:
        return "akjobd was not started by a management command; restart it instead"
    env = dict(os.environ, AKJOB_START_DAEMON="False")
    env.pop(STATE_ENV, None)
    try:
        done = subprocess.run(
            [*argv[:at], "check"],
            env=env,
            capture_output=True,
            text=True,
            timeout=CHECK_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"the check could not run: {exc}"
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines()
        return lines[-1] if lines else f"manage.py check exited with {done.returncode}"
    return None


def exec_with(state: dict[str, Any], fds: list[int]) -> None:
    """Replace this program with a fresh akjobd that resumes from ``state``; ``fds`` stay open
    across. Returns only if the exec failed."""
    for fd in fds:
        os.set_inheritable(fd, True)
    connections.close_all()
    for handler in logging.getLogger().handlers + logging.getLogger("akjob").handlers:
        handler.flush()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    env = dict(os.environ)
    env[STATE_ENV] = json.dumps(state)
    argv = command_line()
    # Stop, reload and reopen requests sent while the fresh program starts wait for its
    # handlers (blocked signals stay blocked, and pending, across exec).
    signal.pthread_sigmask(signal.SIG_BLOCK, runtime.StopRelay.signals)
    try:
        os.execve(sys.executable, argv, env)
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, runtime.StopRelay.signals)


def peek_state() -> dict[str, Any] | None:
    """What an akjobd that reloaded left for this one, if anything (left in place)."""
    raw = os.environ.get(STATE_ENV)
    return json.loads(raw) if raw else None


def resume_state() -> dict[str, Any] | None:
    """What an akjobd that reloaded left for this one, taken out of the environment (the
    processes this one starts must not see it)."""
    raw = os.environ.pop(STATE_ENV, None)
    return json.loads(raw) if raw else None
