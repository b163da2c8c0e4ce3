"""``python manage.py akjobd ACTION [ID] [options]``: control akjobd and look at jobs.

Thin: parse the arguments, call :mod:`akjob.daemon.process`, :mod:`akjob.cli`,
:mod:`akjob.clijson` or :mod:`akjob.signing` (``resign``), print the result. Errors are one line
on stderr with a non-zero exit status: 2 for a usage error (unknown action, missing or malformed
job id), 1 for an unknown job id or a failed action (a failed system check included), 3 for
``status`` when akjobd is not running.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.core.management.base import (
    BaseCommand,
    CommandError,
    CommandParser,
    DjangoHelpFormatter,
)
from django.db import DatabaseError

from akjob import checks, cli, clihelp, clijson
from akjob.daemon import process
from akjob.daemon.process import Outcome, Paths
from akjob.exceptions import AkjobError, JobNotFound

EXIT_USAGE = 2
DAEMON_ACTIONS = ("start", "stop", "restart", "reload", "run", "status")
JOB_ACTIONS = ("enablejob", "disablejob", "deletejob", "showinfo", "runjob", "history")
OTHER_ACTIONS = ("reloadfixture", "joblist", "resign", "check", "sync")
ACTIONS = (*DAEMON_ACTIONS, *OTHER_ACTIONS, *JOB_ACTIONS, "help")
CHECKED_ACTIONS = ("start", "run", "restart")  # refused while a system check fails
JSON_ACTIONS = ("joblist", "showinfo", "history", "status")
HELP_FLAGS = ("-h", "--help")


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _daemon_action(name: str, options: dict[str, Any]) -> Outcome:
    pid = {"piddir": options["piddir"], "pidname": options["pidname"]}
    if name in ("stop", "status", "reload"):
        return getattr(process, name)(**pid)
    paths = Paths.resolve(options["piddir"], options["pidname"], options["logdir"])
    refused = checks.refusals(paths.pid_file.parent, paths.log_dir)
    if refused:
        detail = checks.describe(refused).replace("\n", " ")
        return Outcome(process.EXIT_FAILED, f"akjobd {name}: refused by system checks: {detail}")
    problem = checks.migration_problem() if name == "run" else None  # start checks it itself
    if problem:
        return Outcome(process.EXIT_FAILED, f"akjobd run: {problem}")
    return getattr(process, name)(**pid, logdir=options["logdir"])


def _job_action(name: str, job_id: int, as_json: bool) -> Outcome | str:
    actions: dict[str, Callable[[int], Outcome | str]] = {
        "enablejob": lambda i: cli.set_enabled(i, True),
        "disablejob": lambda i: cli.set_enabled(i, False),
        "deletejob": cli.delete_job,
        "showinfo": clijson.showinfo if as_json else cli.showinfo,
        "runjob": cli.runjob,
        "history": clijson.history if as_json else cli.history,
    }
    return actions[name](job_id)


class _HelpFormatter(DjangoHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Django's option order, and the epilog (the list of actions) printed as written."""


class Command(BaseCommand):
    help = "Control the akjobd daemon and inspect jobs."
    missing_args_message = f"give an action: {', '.join(ACTIONS)}"
    requires_system_checks: list[str] = []  # cheap enough for cron every minute

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        parser.formatter_class = _HelpFormatter
        parser.epilog = clihelp.overview(ACTIONS)

        def one_line_error(message: str) -> None:
            if parser.called_from_command_line:
                self.stderr.write(f"akjobd: {message}")
                sys.exit(EXIT_USAGE)
            raise CommandError(message, returncode=EXIT_USAGE)

        def parse_args(args: Any = None, namespace: Any = None) -> argparse.Namespace:
            args = list(sys.argv[2:] if args is None else args)
            action = next((a for a in args if a in ACTIONS), None)
            if action and action != "help" and any(a in HELP_FLAGS for a in args):
                self.stdout.write(clihelp.action_help(action))
                sys.exit(0)
            # An id may follow the action, or the options: "showinfo -ld x 5" is "showinfo 5".
            return parser.parse_intermixed_args(args, namespace)

        parser.error = one_line_error  # type: ignore[method-assign]
        parser.parse_args = parse_args  # type: ignore[method-assign]
        return parser

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", metavar="ACTION", help=", ".join(ACTIONS))
        parser.add_argument(
            "target", nargs="?", metavar="ID", help="the job's id (or, after help, an action)"
        )
        parser.add_argument("-id", "--id", dest="id", help="the job's id")
        parser.add_argument("-pd", "--piddir", help="directory of the pid file")
        parser.add_argument("-pn", "--pidname", help="name of the pid file")
        parser.add_argument("-ld", "--logdir", help="directory of the log files")
        parser.add_argument(
            "--json", action="store_true", help="joblist, showinfo, history: print JSON"
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="sync: print the difference, change nothing"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        if action not in ACTIONS:
            raise CommandError(
                f"unknown action {action!r}; use one of: {', '.join(ACTIONS)}",
                returncode=EXIT_USAGE,
            )
        if options.get("dry_run") and action != "sync":
            raise CommandError(f"--dry-run is for sync, not {action}", returncode=EXIT_USAGE)
        if options["json"] and action not in JSON_ACTIONS:
            raise CommandError(
                f"--json is for {', '.join(JSON_ACTIONS)}, not {action}", returncode=EXIT_USAGE
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
        except (AkjobError, OSError, DatabaseError, ImproperlyConfigured) as exc:
            raise CommandError(
                f"{action}: {_one_line(exc)}", returncode=process.EXIT_FAILED
            ) from exc
        if isinstance(result, str):
            result = Outcome(process.EXIT_OK, result)
        if not result.ok:
            raise CommandError(" ".join(result.message.split("\n")), returncode=result.code)
        if result.message:
            self.stdout.write(result.message)

    def _dispatch(self, action: str, options: dict[str, Any]) -> Outcome | str:
        if action == "help":
            return self._help(options["target"])
        if action == "status" and options["json"]:
            return self._status_json(options)
        if action in DAEMON_ACTIONS:
            return _daemon_action(action, options)
        if action == "joblist":
            return clijson.joblist() if options["json"] else cli.joblist()
        if action == "reloadfixture":
            return cli.reloadfixture()
        if action == "resign":
            return self._resign()
        if action == "check":
            return self._check()
        if action == "sync":
            return self._sync(dry_run=bool(options.get("dry_run")))
        return _job_action(action, _job_id(action, options), options["json"])

    def _resign(self) -> Outcome:
        """Sign every job's code object with the current SECRET_KEY (see akjob.signing); the
        jobs left as they are are listed on stdout, one a line."""
        from akjob import signing

        report = signing.resign_all()
        for line in report.listing():
            self.stdout.write(line)
        return report.outcome()

    def _status_json(self, options: dict[str, Any]) -> Outcome:
        """The JSON goes to stdout whether akjobd runs here or not (then the exit status is 3)."""
        result = process.status_json(piddir=options["piddir"], pidname=options["pidname"])
        self.stdout.write(result.message)
        if result.ok:
            return Outcome(process.EXIT_OK, "")
        return Outcome(result.code, "akjobd is not running")

    def _check(self) -> Outcome:
        """Announce overdue and failing jobs not announced yet (and recoveries); list the jobs
        overdue now on stdout, one a line: exit 1 when there is one, else 0."""
        from akjob import alerts
        from akjob.timeutil import utcnow

        overdue = alerts.check(utcnow())
        for item in overdue:
            self.stdout.write(item.line())
        if overdue:
            return Outcome(process.EXIT_FAILED, f"check: {len(overdue)} job(s) overdue")
        return Outcome(process.EXIT_OK, "check: no job overdue")

    def _sync(self, *, dry_run: bool) -> Outcome:
        """Sync the schedules declared in code (akjob.sync); the changes on stdout."""
        from akjob import sync

        report = sync.sync(dry_run=dry_run)
        *lines, summary = report.lines()
        for line in lines:
            self.stdout.write(line)
        code = process.EXIT_FAILED if report.invalid else process.EXIT_OK
        return Outcome(code, summary)

    def _help(self, topic: str | None) -> str:
        if topic is None:
            return clihelp.overview(ACTIONS)
        if topic not in ACTIONS:
            raise CommandError(
                f"help: unknown action {topic!r}; use one of: {', '.join(ACTIONS)}",
                returncode=EXIT_USAGE,
            )
        return clihelp.action_help(topic)


def _job_id(action: str, options: dict[str, Any]) -> int:
    """The job id, given as ``-id N``, ``--id N`` or after the action; a usage error else."""
    given = [v for v in (options["id"], options["target"]) if v is not None]
    if not given:
        raise CommandError(f"{action} needs a job id: {action} N (or -id N)", returncode=EXIT_USAGE)
    if len(set(given)) > 1:
        raise CommandError(
            f"{action}: two different job ids given: {given[0]} and {given[1]}",
            returncode=EXIT_USAGE,
        )
    try:
        return int(given[0])
    except ValueError:
        raise CommandError(
            f"{action}: invalid job id {given[0]!r} (a whole number)", returncode=EXIT_USAGE
        ) from None
