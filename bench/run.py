"""akjob against its peers, in one command: ``make bench`` (or ``python bench/run.py``).

    python bench/run.py [--quick] [--sections engine,wakeup,lateness,idle]

Makes (once) the peers' virtualenv ``bench/.venv-peers``, runs every measurement in a process of
its own there, prints one Markdown table per section, and writes ``bench/results.md`` and
``bench/results.json``. A full run of every section also rewrites the generated part of
``docs/benchmarks.md`` and the plot ``docs/img/wakeup.png``; ``--quick`` (smaller sizes, fewer
repeats) and partial runs leave docs/ alone. See docs/benchmarks.md for what each figure means.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.peers import env, report, targets  # noqa: E402
from bench.peers.common import RESULT  # noqa: E402

SECTIONS = ("engine", "wakeup", "lateness", "idle")
RESULTS_MD = REPO / "bench" / "results.md"
RESULTS_JSON = REPO / "bench" / "results.json"
DOC = REPO / "docs" / "benchmarks.md"
PLOT = REPO / "docs" / "img" / "wakeup.png"
BEGIN, END = "<!-- bench: generated, begin -->", "<!-- bench: generated, end -->"
TITLES = {
    "engine": "a. Next run time",
    "wakeup": "b. One wake-up with N jobs, 1% due (SQLite)",
    "lateness": "c. Firing lateness (start − scheduled)",
    "idle": "d. akjobd at rest",
}


def say(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def step(python: Path, module: str, *args: str, timeout: float = 600) -> dict[str, Any]:
    """Run ``python -m module args`` in the peers' environment; its result, or {"error": …}."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("AKJOB_", "DJANGO_"))}
    environ |= {"AKJOB_START_DAEMON": "False", "PYTHONPATH": str(REPO)}
    started = time.monotonic()
    try:
        done = subprocess.run(
            [str(python), "-m", module, *args],
            cwd=REPO,
            env=environ,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        say(f"{' '.join([module, *args])}: stopped after {timeout:.0f} s")
        return {"error": f"took longer than {timeout:.0f} s"}
    lines = [line for line in done.stdout.splitlines() if line.startswith(RESULT)]
    say(f"{' '.join([module, *args])}: {time.monotonic() - started:.0f} s")
    if done.returncode != 0 or not lines:
        tail = done.stderr.strip().splitlines()[-5:] or [f"exit status {done.returncode}"]
        say("  failed: " + "\n  ".join(tail))
        return {"error": tail[-1]}
    value = json.loads(lines[-1][len(RESULT) :])
    return value if isinstance(value, dict) else {"rows": value}


def postgres_reachable() -> str | None:
    """None when PostgreSQL answers at 127.0.0.1:5432 and its client tools exist; else why not."""
    if not (shutil.which("createdb") and shutil.which("dropdb")):
        return "PostgreSQL's client tools (createdb, dropdb) are not installed"
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            return None
    except OSError:
        return "no PostgreSQL server at 127.0.0.1:5432"


# -- the sections ---------------------------------------------------------------------------------


def run_engine(python: Path, quick: bool) -> dict[str, Any]:
    repeat = 3 if quick else 5
    budget = "0.02" if quick else "0.05"
    result = step(python, "bench.peers.engine", "--repeat", str(repeat), "--budget", budget)
    return result | {"repeat": repeat}


def run_wakeup(python: Path, quick: bool) -> dict[str, Any]:
    sizes = "1000,10000" if quick else "1000,10000,100000"
    repeat = "3" if quick else "5"
    modules = {
        "akjob": "wakeup_akjob",
        "django-celery-beat": "wakeup_celerybeat",
        "django-q2": "wakeup_djangoq",
        "APScheduler 3": "wakeup_apscheduler",
    }
    return {
        name: step(python, f"bench.peers.{module}", "--sizes", sizes, "--repeat", repeat)
        for name, module in modules.items()
    }


MANY_WORKERS = 128  # the lateness rows with more workers than runs due in one second


def run_lateness(python: Path, quick: bool) -> dict[str, Any]:
    size = ["--jobs", "300", "--window", "5"] if quick else ["--jobs", "1000", "--window", "10"]
    who = ["akjob-sqlite", "akjob-postgres", "apscheduler"]
    if not quick:
        # A worker (a thread) for every run due in the same second, for both.
        who += [f"akjob-sqlite-{MANY_WORKERS}", f"apscheduler-{MANY_WORKERS}"]
        who.append("apscheduler-spread")
    results: dict[str, Any] = {"jobs": int(size[1]), "window": int(size[3])}
    for name in who:
        if name == "akjob-postgres" and (why := postgres_reachable()):
            results[name] = {"error": why}
            continue
        scheduler, _, workers = name.rpartition("-")
        args = [scheduler, "--workers", workers] if workers.isdigit() else [name]
        results[name] = step(python, "bench.peers.lateness", *args, *size)
    return results


def run_idle(python: Path, quick: bool) -> dict[str, Any]:
    args = ["--sizes", "1000,10000", "--seconds", "5"] if quick else []
    return step(python, "bench.peers.idle", *args)


RUNNERS: dict[str, Callable[[Path, bool], dict[str, Any]]] = {
    "engine": run_engine,
    "wakeup": run_wakeup,
    "lateness": run_lateness,
    "idle": run_idle,
}
RENDER: dict[str, Callable[[dict[str, Any]], str]] = {
    "engine": report.engine_section,
    "wakeup": report.wakeup_section,
    "lateness": report.lateness_section,
    "idle": report.idle_section,
}


# -- writing ---------------------------------------------------------------------------------------


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} × {model}"


def header(results: dict[str, Any]) -> str:
    meta = results["meta"]
    versions = ", ".join(f"{k} {v}" for k, v in meta.get("versions", {}).items() if k != "error")
    load = " → ".join(f"{x:.1f}" for x in meta["load"])
    kind = "quick run (`--quick`): smaller sizes, fewer repeats" if meta["quick"] else "full run"
    return (
        f"{kind}, {meta['date']}, {meta['seconds']:.0f} s in all; {meta['machine']}; "
        f"load average (1 min) {load} from start to end.\n\n{versions}."
    )


def markdown(results: dict[str, Any], sections: list[str]) -> str:
    parts = [header(results)]
    for name in sections:
        parts.append(f"### {TITLES[name]}\n\n{RENDER[name](results[name])}")
    if set(sections) == set(SECTIONS):
        parts.append(f"### Targets\n\n{targets.targets_section(results)}")
    return "\n\n".join(parts) + "\n"


def write_doc(text: str) -> None:
    """Replace the generated part of docs/benchmarks.md (between the markers)."""
    current = DOC.read_text() if DOC.exists() else "# Benchmarks\n"
    block = f"{BEGIN}\n\n{text}\n{END}"
    if BEGIN in current and END in current:
        head, _, rest = current.partition(BEGIN)
        _, _, tail = rest.partition(END)
        DOC.write_text(head + block + tail)
    else:
        DOC.write_text(current.rstrip() + "\n\n" + block + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, fewer repeats")
    parser.add_argument("--sections", default=",".join(SECTIONS), help="comma-separated")
    args = parser.parse_args()
    sections = [s for s in SECTIONS if s in args.sections.split(",")]
    started = time.monotonic()
    load = [os.getloadavg()[0]]
    python = env.ensure(say)
    results: dict[str, Any] = {}
    for name in sections:
        results[name] = RUNNERS[name](python, args.quick)
        print(f"\n### {TITLES[name]}\n\n{RENDER[name](results[name])}", flush=True)
    load.append(os.getloadavg()[0])
    results["meta"] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "quick": args.quick,
        "load": load,
        "versions": step(python, "bench.peers.versions"),
        "seconds": time.monotonic() - started,
    }
    text = markdown(results, sections)
    if "Targets" in text:
        print(text[text.index("### Targets") :], flush=True)
    RESULTS_JSON.write_text(json.dumps(results, indent=1) + "\n")
    RESULTS_MD.write_text("# akjob and its peers: the last run of bench/run.py\n\n" + text)
    say(f"wrote {RESULTS_MD.relative_to(REPO)} and {RESULTS_JSON.relative_to(REPO)}")
    if not args.quick and set(sections) == set(SECTIONS):
        plotted = step(python, "bench.peers.plot", str(RESULTS_JSON), str(PLOT))
        if "error" in plotted:
            say("the plot failed; docs/ left as it was")
            return
        write_doc(text)
        say(f"wrote {DOC.relative_to(REPO)} and {PLOT.relative_to(REPO)}")
    say(f"done in {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
