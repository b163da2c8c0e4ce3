"""The benchmark targets (docs/benchmarks.md), checked against one run's results (stdlib only)."""

from __future__ import annotations

from typing import Any

from bench.peers.report import COMMON, OTHERS, engine_ratio, num, table, wakeup_rows


def _mark(ok: bool | None) -> str:
    return "—" if ok is None else ("yes" if ok else "**no**")


def engine_targets(engine: dict[str, Any]) -> list[list[str]]:
    if "rows" not in engine:
        return []
    rows = {row["key"]: row for row in engine["rows"]}
    out = []
    ratios = [engine_ratio(rows[key]["results"]) for key in COMMON if key in rows]
    known = [r for r in ratios if r is not None]
    if known:
        shown = ", ".join(f"{r:.2f}" for r in known)
        out.append(
            ["engine: akjob/APScheduler ≤ 1.0 on the three common", shown, _mark(max(known) <= 1)]
        )
    for what, keys in (
        ("cron, every shape", [key for key in rows if key.startswith("cron ")]),
        ("every other schedule", [key for key in OTHERS if key in rows]),
    ):
        half = [engine_ratio(rows[key]["results"]) for key in keys]
        if half and None not in half:
            shown = f"{min(half):.2f}–{max(half):.2f}"
            out.append([f"engine: akjob/APScheduler ≤ 0.5, {what}", shown, _mark(max(half) <= 0.5)])
    gaps = {row["gap"]: row for row in engine.get("gaps", [])}
    if "30 days" in gaps:
        us = gaps["30 days"]["results"]["akjob"]["us"]
        out.append(["catch-up: counting a 30-day gap < 1 ms", f"{num(us)} µs", _mark(us < 1000)])
    shapes = engine.get("any_gap", [])
    if shapes:
        slowest = max(shapes, key=lambda row: row["us"])
        ok = slowest["us"] < 1000 and all(row["status"] == "ok" for row in shapes)
        shown = (
            f"{num(min(r['us'] for r in shapes))}–{num(slowest['us'])} µs ({len(shapes)} shapes)"
        )
        out.append(["catch-up: counting a 30-day gap < 1 ms, any schedule", shown, _mark(ok)])
    if "sparse" in rows:
        us = rows["sparse"]["results"]["akjob"]["us"]
        out.append(["engine: sparse schedule < 100 µs", f"{num(us)} µs", _mark(us < 100)])
    if "impossible" in rows:
        result = rows["impossible"]["results"]["akjob"]
        ok = result["status"] == "none" and result["us"] < 5000
        out.append(["engine: impossible → None in < 5 ms", f"{num(result['us'])} µs", _mark(ok)])
    return out


def wakeup_targets(wakeup: dict[str, Any]) -> list[list[str]]:
    rows = wakeup_rows(wakeup)
    mine = {r["n"]: r for r in rows if r["scheduler"] == "akjob"}
    if not mine:
        return []
    out = []
    largest = mine[max(mine)]
    out.append(
        [
            f"wake-up: idle < 2 ms at {largest['n']:,} jobs",
            f"{num(largest['idle_ms'])} ms",
            _mark(largest["idle_ms"] < 2) if largest["n"] >= 100_000 else "—",
        ]
    )
    if largest["n"] >= 100_000 and largest.get("due"):
        per_job = largest["due_ms"] / largest["due"]
        out.append(
            [
                f"wake-up: 1% due at {largest['n']:,} jobs ≤ 0.15 ms per due job (SQLite)",
                f"{num(largest['due_ms'])} ms / {largest['due']:,} = {per_job:.3f} ms",
                _mark(per_job <= 0.15),
            ]
        )
    idle = " → ".join(f"{num(mine[n]['idle_ms'])}" for n in sorted(mine))
    out.append(["wake-up: idle cost flat in N (ms, smallest to largest N)", idle, "—"])
    for kind, key in (("1% due, all started", "all_ms"), ("idle", "idle_ms")):
        worse = [
            f"{r['scheduler']} at {r['n']:,}"
            for r in rows
            if r["scheduler"] != "akjob" and r["n"] in mine and r[key] <= mine[r["n"]][key]
        ]
        out.append(
            [
                f"wake-up ({kind}): cheaper than each peer at every N",
                "not cheaper than " + ", ".join(worse) if worse else "cheaper everywhere",
                _mark(not worse),
            ]
        )
    return out


def lateness_targets(lateness: dict[str, Any]) -> list[list[str]]:
    out = []
    for mine_key, theirs_key in (("akjob-sqlite", "apscheduler"), *_many(lateness)):
        mine, theirs = lateness.get(mine_key, {}), lateness.get(theirs_key, {})
        if "p99" not in mine:
            continue
        workers = f"{mine['workers']} workers" if "workers" in mine else mine_key
        out.append(
            [
                f"lateness: akjob p99 < 20 ms (SQLite, {workers})",
                f"{num(mine['p99'])} ms",
                _mark(mine["p99"] < 20),
            ]
        )
        if "p99" in theirs:
            ratio = mine["p99"] / theirs["p99"]
            out.append(
                [
                    f"lateness: akjob p99 ≤ 2 × APScheduler-SQLite p99 ({workers})",
                    f"{num(mine['p99'])} / {num(theirs['p99'])} = {ratio:.2f}",
                    _mark(ratio <= 2),
                ]
            )
    return out


def _many(lateness: dict[str, Any]) -> list[tuple[str, str]]:
    """The (akjob, APScheduler) keys of the rows measured with more workers."""
    keys = [k for k in lateness if k.startswith("akjob-sqlite-")]
    return [(k, "apscheduler-" + k.rpartition("-")[2]) for k in keys]


def idle_targets(idle: dict[str, Any]) -> list[list[str]]:
    rows = sorted(idle.get("rows", []), key=lambda r: r["n"])
    if len(rows) < 2:
        return []
    low, high = rows[0], rows[-1]
    growth = high["rss_mib"] - low["rss_mib"]
    return [
        [
            f"memory: idle RSS within 10 MiB from {low['n']:,} to {high['n']:,} jobs",
            f"{num(low['rss_mib'])} → {num(high['rss_mib'])} MiB ({growth:+.1f})",
            _mark(abs(growth) <= 10),
        ]
    ]


def targets_section(results: dict[str, Any]) -> str:
    rows = (
        engine_targets(results.get("engine", {}))
        + wakeup_targets(results.get("wakeup", {}))
        + lateness_targets(results.get("lateness", {}))
        + idle_targets(results.get("idle", {}))
    )
    return table(["target", "this run", "met"], rows, "llc")
