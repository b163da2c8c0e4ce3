"""The results as Markdown: one table per measurement, and the targets checked.

Standard library only: this runs in whatever Python runs ``bench/run.py``.
"""

from __future__ import annotations

from typing import Any

IMPLEMENTATIONS = ["akjob", "APScheduler 3", "cronsim", "celery crontab", "croniter"]
COMMON = ["window", "monthly", "denver"]
OTHERS = ["window", "monthly", "denver", "limited", "sparse"]
WAKEUP_ORDER = ["akjob", "django-celery-beat", "django-q2", "APScheduler 3"]


def num(value: float | None) -> str:
    """A figure with as many digits as it deserves."""
    if value is None:
        return "—"
    if value < 1:
        return f"{value:.2f}"
    if value < 100:
        return f"{value:.1f}"
    return f"{value:,.0f}"


def table(header: list[str], rows: list[list[str]], align: str = "") -> str:
    align = align or "l" + "r" * (len(header) - 1)
    marks = {"l": "---", "r": "---:", "c": ":---:"}
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(marks[a] for a in align) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def missing(section: dict[str, Any]) -> str | None:
    if section.get("error"):
        return f"_Not measured: {section['error']}_"
    return None


# -- a. next run time -------------------------------------------------------------------------


def engine_cell(result: dict[str, Any]) -> str:
    status, us = result["status"], result["us"]
    if status == "refused":
        return f"refused ({num(us)})"
    if status == "none":
        return f"{num(us)} → None"
    if status == "no date":
        return f"{num(us)} → error “no date”"
    if status == "differs":
        return f"{num(us)} ≠"
    return num(us)


def engine_ratio(results: dict[str, Any]) -> float | None:
    mine, theirs = results["akjob"], results["APScheduler 3"]
    if {mine["status"], theirs["status"]} <= {"ok", "none"}:
        return mine["us"] / theirs["us"]
    return None


def ratio_text(ratio: float | None) -> str:
    if ratio is None:
        return "—"
    return f"{ratio:.2f}" if ratio >= 0.01 else f"{ratio:.1e}"


def engine_section(data: dict[str, Any]) -> str:
    if text := missing(data):
        return text
    rows, notes = [], []
    for row in data["rows"]:
        cells = [engine_cell(row["results"][name]) for name in IMPLEMENTATIONS]
        ratio = engine_ratio(row["results"])
        rows.append([row["label"], *cells, ratio_text(ratio)])
        zone = "" if row["tz"] == "UTC" else f" in {row['tz']}"
        note = f" — {row['note']}" if row["note"] else ""
        notes.append(f"- {row['label']}: peers `{row['cron']}`{zone}{note}")
        for name in IMPLEMENTATIONS:
            result = row["results"][name]
            if result["status"] in ("differs", "refused") or "single" in result["note"]:
                notes.append(f"  - {name}: {result['note']}")
    header = ["schedule", *IMPLEMENTATIONS, "akjob / APScheduler"]
    intro = (
        f"CPU µs per call, median of {data['repeat']} rounds over 12 starting instants in 2027; "
        "every answer checked against akjob's (≠: a different answer)."
    )
    parts = [intro, table(header, rows), "\n".join(notes)]
    if data.get("gaps"):
        parts.append(gaps_section(data["gaps"], data["repeat"]))
    if data.get("any_gap"):
        parts.append(any_gap_section(data["any_gap"], data["repeat"]))
    return "\n\n".join(parts)


GAP_IMPLEMENTATIONS = ["akjob", "APScheduler 3", "cronsim", "croniter"]


def gaps_section(gaps: list[dict[str, Any]], repeat: int) -> str:
    """Counting the occurrences one job missed in a gap (bench/peers/catchup.py)."""
    rows = []
    for row in gaps:
        results = row["results"]
        cells = [engine_cell(results[name]) for name in GAP_IMPLEMENTATIONS]
        rows.append(
            [row["gap"], f"{row['median_count']:,.0f}", *cells, ratio_text(engine_ratio(results))]
        )
    header = ["gap", "occurrences", *GAP_IMPLEMENTATIONS, "akjob / APScheduler"]
    intro = (
        f"Catching up: the occurrences of {gaps[0]['job']} in a gap that starts at one of its "
        f"run times (12 starts in 2027), CPU µs per answer, median of {repeat} rounds; akjob "
        "counts (`count_between`), the peers walk from run time to run time; every count checked "
        "against akjob's."
    )
    return "\n\n".join([intro, table(header, rows)])


def any_gap_section(rows: list[dict[str, Any]], repeat: int) -> str:
    """akjob alone: counting a 30-day gap for schedules of every shape (bench/engine.py)."""
    cells = [
        [
            row["label"],
            str(row["sources"]),
            f"{row['median_count']:,.0f}",
            num(row["us"]) + ("" if row["status"] == "ok" else " ≠"),
        ]
        for row in rows
    ]
    intro = (
        "Catching up, any schedule: akjob's `count_between` over a 30-day gap from each of the 12 "
        f"starts, CPU µs per answer, median of {repeat} rounds; each count checked against the run "
        "times listed one by one (`upcoming`) from the first start (≠: a different count)."
    )
    return "\n\n".join([intro, table(["schedule", "sources", "occurrences", "akjob"], cells)])


# -- b. wake-up cost --------------------------------------------------------------------------


def wakeup_rows(data: dict[str, Any]) -> list[dict[str, Any]]:
    found = [row for name in WAKEUP_ORDER for row in data.get(name, {}).get("rows", [])]
    return sorted(found, key=lambda r: (r["n"], WAKEUP_ORDER.index(r["scheduler"])))


def wakeup_section(data: dict[str, Any]) -> str:
    rows = []
    for r in wakeup_rows(data):
        approx = "≈ " if r.get("all_estimated") else ""
        rows.append(
            [
                r["scheduler"],
                f"{r['n']:,}",
                f"{r['due']:,}",
                num(r.get("due_ms")),
                f"{r.get('due_sent', 0):,.0f}",
                f"{num(r.get('due_db_ms'))} ({r.get('due_queries', 0):,.0f})",
                f"{approx}{num(r.get('all_ms'))} ({r.get('all_wakeups', 1):,})",
                num(r.get("idle_ms")),
                f"{num(r.get('idle_db_ms'))} ({r.get('idle_queries', 0):,.0f})",
            ]
        )
    header = [
        "scheduler",
        "jobs",
        "due",
        "wake-up, 1% due (ms)",
        "started by it",
        "database ms (statements)",
        "all due started, ms (wake-ups)",
        "idle wake-up (ms)",
        "idle database ms (statements)",
    ]
    parts = [table(header, rows)]
    beat = [r for r in wakeup_rows(data) if r["scheduler"] == "django-celery-beat"]
    if beat:
        parts.append(
            "django-celery-beat reads every entry into memory at start and after any change "
            "to the table (its `PeriodicTasks` stamp), then builds its heap on the next tick:"
        )
        parts.append(
            table(
                ["jobs", "start-up read (ms)", "first tick (ms)", "tick after a change (ms)"],
                [
                    [f"{r['n']:,}", num(r["load_ms"]), num(r["first_ms"]), num(r["reload_ms"])]
                    for r in beat
                ],
            )
        )
    errors = [f"- {name}: {data[name]['error']}" for name in WAKEUP_ORDER if missing(data[name])]
    if errors:
        parts.append("Not measured:\n" + "\n".join(errors))
    return "\n\n".join(parts)


# -- c. lateness ------------------------------------------------------------------------------

LATENESS_LABELS = {
    "akjob-sqlite": ("akjob (`akjobd run`, {workers} worker processes)", "SQLite"),
    "akjob-postgres": ("akjob (`akjobd run`, {workers} worker processes)", "PostgreSQL"),
    "apscheduler": ("APScheduler 3 (BackgroundScheduler, {workers} threads)", "SQLite"),
    "apscheduler-spread": (
        "APScheduler 3, times spread over the window (µs resolution)",
        "SQLite",
    ),
}


def lateness_section(data: dict[str, Any]) -> str:
    rows, errors = [], []
    for who, r in data.items():  # in the order measured
        if not isinstance(r, dict):
            continue  # the sizes
        # A row measured with another number of workers ("akjob-sqlite-128") is labelled as its
        # scheduler's row, with its own number.
        base, _, workers = who.rpartition("-")
        label, store = LATENESS_LABELS[base if workers.isdigit() else who]
        if missing(r):
            errors.append(f"- {who}: {r['error']}")
            continue
        rows.append(
            [
                label.format(workers=r["workers"]),
                store,
                f"{r['n']:,}",
                num(r["p50"]),
                num(r["p99"]),
                num(r["max"]),
                num(r["cpu_ms_per_run"]) if "cpu_ms_per_run" in r else "—",
            ]
        )
    header = ["scheduler", "database", "runs", "p50 (ms)", "p99 (ms)", "max (ms)", "CPU/run (ms)"]
    intro = (
        f"{data.get('jobs', 1000):,} jobs due at whole seconds within {data.get('window', 10)} s, "
        "each scheduler in its own process; lateness = when the job's code started − its "
        "scheduled time. CPU/run: CPU time of the scheduler's processes per run (akjob: akjobd "
        "and its workers, from a second before the first occurrence to the last start; "
        "APScheduler: its process from resume to shutdown)."
    )
    parts = [intro, table(header, rows, "llrrrrr")]
    if errors:
        parts.append("Not measured:\n" + "\n".join(errors))
    return "\n\n".join(parts)


# -- d. idle ----------------------------------------------------------------------------------


def idle_section(data: dict[str, Any]) -> str:
    if text := missing(data):
        return text
    rows = [
        [
            f"{r['n']:,}",
            num(r["rss_mib"]),
            num(r["pss_total_mib"]),
            str(r["processes"]),
            f"{r['cpu_percent']:.2f}",
            f"{r['seconds']:.0f}",
        ]
        for r in data["rows"]
    ]
    header = [
        "jobs",
        "akjobd RSS (MiB)",
        "PSS, akjobd + workers (MiB)",
        "processes",
        "CPU (% of one core)",
        "over (s)",
    ]
    return table(header, rows)
