"""The wake-up plot: cost of one wake-up against the number of jobs, per scheduler, log-log.

    python -m bench.peers.plot RESULTS.json OUT.png

Solid lines: the time to start every due job (1% of N), hollow where part of it is counted from
measured ticks rather than measured (celery beat); dashed: the idle wake-up.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from bench.peers.common import emit  # noqa: E402
from bench.peers.report import WAKEUP_ORDER, wakeup_rows  # noqa: E402

COLOURS = {
    "akjob": "#d62728",
    "django-celery-beat": "#2ca02c",
    "django-q2": "#1f77b4",
    "APScheduler 3": "#9467bd",
}


def plot(results: dict, out: Path) -> None:
    rows = wakeup_rows(results["wakeup"])
    fig, ax = plt.subplots(figsize=(8, 5), dpi=110)
    for name in WAKEUP_ORDER:
        mine = sorted((r for r in rows if r["scheduler"] == name), key=lambda r: r["n"])
        if not mine:
            continue
        sizes = [r["n"] for r in mine]
        colour = COLOURS[name]
        ax.plot(sizes, [r["all_ms"] for r in mine], "o-", color=colour, label=f"{name}: 1% due")
        guessed = [r for r in mine if r.get("all_estimated")]
        if guessed:  # counted from measured ticks, not all measured: hollow
            ax.plot(
                [r["n"] for r in guessed],
                [r["all_ms"] for r in guessed],
                "o",
                color=colour,
                markerfacecolor="white",
            )
        ax.plot(sizes, [r["idle_ms"] for r in mine], "s--", color=colour, label=f"{name}: idle")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("jobs in the table (SQLite)")
    ax.set_ylabel("ms to start every due job (solid) / idle wake-up (dashed)")
    ax.set_title("One scheduler wake-up against the number of jobs")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)


def main() -> None:
    plot(json.loads(Path(sys.argv[1]).read_text()), Path(sys.argv[2]))
    emit({"written": sys.argv[2]})


if __name__ == "__main__":
    main()
