"""``python manage.py akjobd ACTION [options]``: control akjobd and look at jobs.

Thin: parse the arguments, call :mod:`akjob.daemon.process` or :mod:`akjob.cli`, print the result.
Errors are one line on stderr with a non-zero exit status: 2 for a usage error (unknown action,
missing or malformed -id), 1 for an unknown job id or a failed action, 3 for ``status`` when akjobd
is not running.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError

from akjob import cli
from akjob.daemon import process
from akjob.daemon.process import Outcome
from akjob.exceptions import AkjobError, JobNotFound

EXIT_USAGE = 2
DAEMON_ACTIONS = ("start", "stop", "restart", "reload", "run", "status")
JOB_ACTIONS = ("enablejob", "disablejob", "deletejob", "showinfo", "runjob", "history")
OTHER_ACTIONS = ("reloadfixture", "joblist")
ACTIONS = DAEMON_ACTIONS + OTHER_ACTIONS + JOB_ACTIONS


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _daemon_action(name: str, options: dict[str, Any]) -> Outcome:
    pid = {"piddir": options["piddir"], "pidname": options["pidname"]}
    if name in ("stop", "status", "reload"):
        return getattr(process, name)(**pid)
    return getattr(process, name)(**pid, logdir=options["logdir"])


def _job_action(name: str, job_id: int) -> Outcome | str:
    actions: dict[str, Callable[[int], Outcome | str]] = {
        "enablejob": lambda i: cli.set_enabled(i, True),
        "disablejob": lambda i: cli.set_enabled(i, False),
        "deletejob": cli.delete_job,
        "showinfo": cli.showinfo,
        "runjob": cli.runjob,
        "history": cli.history,
    }
    return actions[name](job_id)


class Command(BaseCommand):
    help = (
        "Control the akjobd daemon and inspect jobs. ACTION is one of: " + ", ".join(ACTIONS) + "."
    )
    missing_args_message = f"give an action: {', '.join(ACTIONS)}"
    requires_system_checks: list[str] = []  # cheap enough for cron every minute

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        parser = super().create_parser(prog_name, subcommand, **kwargs)

        def one_line_error(message: str) -> None:
            if parser.called_from_command_line:
                self.stderr.write(f"akjobd: {message}")
                sys.exit(EXIT_USAGE)
            raise CommandError(message, returncode=EXIT_USAGE)

        parser.error = one_line_error  # type: ignore[method-assign]
        return parser

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", metavar="ACTION", help=", ".join(ACTIONS))
        parser.add_argument("-id", "--id", dest="id", type=int, help="the job's id")
        parser.add_argument("-pd", "--piddir", help="directory of the pid file")
        parser.add_argument("-pn", "--pidname", help="name of the pid file")
        parser.add_argument("-ld", "--logdir", help="directory of the log files")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        if action not in ACTIONS:
            raise CommandError(
                f"unknown action {action!r}; use one of: {', '.join(ACTIONS)}",
                returncode=EXIT_USAGE,
            )
        try:
            result = self._dispatch(action, options)
        except JobNotFound as exc:
            raise CommandError(str(exc), returncode=process.EXIT_FAILED) from exc
        except ValidationError as exc:
            raise CommandError(
                f"{action}: the job cannot be saved: {'; '.join(exc.messages)}",
                returncode=process.EXIT_FAILED,
            ) from exc
        except (AkjobError, OSError, DatabaseError) as exc:
            raise CommandError(
                f"{action}: {_one_line(exc)}", returncode=process.EXIT_FAILED
            ) from exc
        if isinstance(result, str):
            result = Outcome(process.EXIT_OK, result)
        if not result.ok:
            raise CommandError(" ".join(result.message.split("\n")), returncode=result.code)
        self.stdout.write(result.message)

    def _dispatch(self, action: str, options: dict[str, Any]) -> Outcome | str:
        if action in DAEMON_ACTIONS:
            return _daemon_action(action, options)
        if action == "joblist":
            return cli.joblist()
        if action == "reloadfixture":
            return cli.reloadfixture()
        if options["id"] is None:
            raise CommandError(f"{action} needs a job id: -id N", returncode=EXIT_USAGE)
        return _job_action(action, options["id"])
