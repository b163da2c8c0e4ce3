"""What ``akjobd help ACTION`` and ``akjobd ACTION --help`` print: one entry per action.

The texts are the short form of docs/daemon.md; each says what the action does, what it prints
and how it exits, so that a script author need not open the docs.
"""

from __future__ import annotations

COMMON = "Options: -pd/--piddir DIR, -pn/--pidname NAME, -ld/--logdir DIR (see docs/daemon.md)."

#: action -> (usage, summary, explanation)
ACTION_HELP: dict[str, tuple[str, str, str]] = {
    "start": (
        "akjobd start [-pd DIR] [-pn NAME] [-ld DIR]",
        "start akjobd in the background",
        "Start akjobd in the background. akjob's system checks run first: a bad AKJOB_* setting\n"
        "or an unwritable directory is reported and nothing starts (exit 1). 'akjobd started'\n"
        "is printed once the daemon wrote its first heartbeat, within AKJOB_START_TIMEOUT\n"
        "(30 s); otherwise the reason found in akjobd.log or akjobd.out is printed, the daemon\n"
        "is stopped and the exit status is 1. Already running: says so, exit 0 (safe from cron).",
    ),
    "stop": (
        "akjobd stop [-pd DIR] [-pn NAME]",
        "stop akjobd gracefully",
        "Ask akjobd to stop (SIGTERM): it claims nothing new and lets running jobs finish within\n"
        "AKJOB_STOP_GRACE. Exit 0 once it stopped, or when it was not running; 1 if it is still\n"
        "running after AKJOB_STOP_GRACE + 15 s.",
    ),
    "restart": (
        "akjobd restart [-pd DIR] [-pn NAME] [-ld DIR]",
        "stop, then start",
        "stop, then start (with start's checks). Exit as start; 1 if the stop failed.",
    ),
    "reload": (
        "akjobd reload [-pd DIR] [-pn NAME]",
        "load the code on disk afresh, keeping the runs in progress",
        "Ask akjobd to load the code on disk afresh (SIGUSR1): it checks that the code loads,\n"
        "then replaces its program in place, keeping its pid, its locks and its runs in\n"
        "progress. akjobd also does this by itself when a file it imported changes. Exit 0;\n"
        "3 when akjobd is not running. What happened is in akjobd.log.",
    ),
    "run": (
        "akjobd run [-pd DIR] [-pn NAME] [-ld DIR]",
        "run akjobd in the foreground",
        "Run akjobd in the foreground (systemd, containers, supervisors) until SIGTERM or\n"
        "Ctrl-C; the log lines are echoed to stderr. The system checks run first. Exit 0 after\n"
        "a stop; 1 if a check fails, akjobd already runs, or the loop failed.",
    ),
    "status": (
        "akjobd status [-pd DIR] [-pn NAME] [--json]",
        "is akjobd running, and what is it doing",
        "Whether akjobd runs: pid, uptime, last heartbeat, runs in progress, next due job.\n"
        "With --json: the cluster's health from the database (every akjobd with its heartbeat\n"
        "and lag, runs in progress and stuck, due backlog, overdue and failing jobs) and this\n"
        "host's akjobd. Exit 0 when running, 3 when not (as LSB init scripts).",
    ),
    "check": (
        "akjobd check",
        "list overdue jobs; exit 1 if there is one (for cron or a monitoring probe)",
        "Look for overdue jobs (alert_after) and failing jobs whether or not akjobd runs;\n"
        "announce those not announced yet (signal and mail, once) and the recoveries. One line\n"
        "per overdue job on stdout; exit 1 when a job is overdue, 0 when none is.",
    ),
    "joblist": (
        "akjobd joblist [--json]",
        "every job, with its next run, last result and whether it is running",
        "Every job: id, name, enabled, next run, last run, last result (the status of its\n"
        "latest finished run), running (yes while a run is in progress), runs/limit, schedule.",
    ),
    "showinfo": (
        "akjobd showinfo ID [--json]   (also -id ID, --id ID)",
        "one job in full: fields, schedule, next run times, last runs",
        "Every field of the job, its schedule in words, the next 10 run times (or why there is\n"
        "none, in the admin's words) and the last runs.",
    ),
    "history": (
        "akjobd history ID [--json]   (also -id ID, --id ID)",
        "one job's run records",
        "The job's run records, newest first: scheduled, started, finished, status, error.",
    ),
    "enablejob": (
        "akjobd enablejob ID   (also -id ID, --id ID)",
        "enable a job",
        "Set job_enabled and save; the next run time follows.",
    ),
    "disablejob": (
        "akjobd disablejob ID   (also -id ID, --id ID)",
        "disable a job",
        "Clear job_enabled and save; the job has no next run until enabled again.",
    ),
    "deletejob": (
        "akjobd deletejob ID   (also -id ID, --id ID)",
        "delete a job",
        "Delete the job; its run records stay, without the job.",
    ),
    "runjob": (
        "akjobd runjob ID   (also -id ID, --id ID)",
        "run a job now",
        "Run the job now: a running akjobd picks it up within AKJOB_POLL; with no akjobd\n"
        "running it runs in this process. Prints the run's outcome.",
    ),
    "reloadfixture": (
        "akjobd reloadfixture",
        "repair the day tables",
        "Repair the DayOfMonth, DayOfWeek and Months tables; the jobs' day sets are kept.",
    ),
    "resign": (
        "akjobd resign",
        "sign every job's code object with the current SECRET_KEY",
        "After a SECRET_KEY rotation: every job whose code object verifies with SECRET_KEY or\n"
        "a fallback is signed with SECRET_KEY; nothing is unpickled. Jobs whose code verifies\n"
        "with no key are listed, one a line, and left as they are: exit 1 then, else 0.",
    ),
    "sync": (
        "akjobd sync [--dry-run]",
        "bring the jobs declared in code in step with the code",
        "Create, update, disable or delete the jobs declared with @akjob.scheduled or in\n"
        "AKJOB_SCHEDULES so that they match the code (see docs/schedules-in-code.md); one line\n"
        "per change, then a summary. --dry-run prints the same difference and changes nothing.\n"
        "Exit 0; 1 when a declaration is invalid (listed, its job left as it is).",
    ),
    "help": (
        "akjobd help [ACTION]",
        "this help",
        "This help: the list of actions, or what one action does.",
    ),
}

EXITS = (
    "Errors are one line on stderr: exit 2 for a usage error (unknown action, missing or bad\n"
    "job id), 1 for an unknown job or a failed action, 3 for status of a stopped akjobd."
)


def action_help(action: str) -> str:
    """The help of one action (usage, explanation, options)."""
    usage, _, text = ACTION_HELP.get(action, (f"akjobd {action}", "", "No help yet."))
    lines = [f"usage: manage.py {usage}", "", text]
    if action in {"start", "stop", "restart", "run", "status"}:
        lines += ["", COMMON]
    return "\n".join(lines)


def overview(actions: tuple[str, ...]) -> str:
    """Every action with the first line of its explanation, then how errors exit."""
    width = max(len(a) for a in actions)
    lines = ["Actions (akjobd help ACTION, or akjobd ACTION --help, says more):"]
    for action in actions:
        summary = ACTION_HELP.get(action, ("", "", ""))[1]
        lines.append(f"  {action.ljust(width)}  {summary}")
    return "\n".join([*lines, "", EXITS])
