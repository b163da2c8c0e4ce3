"""Charts of the admin dashboard, drawn as SVG on the server: nothing is fetched by the browser.

Pure functions of their data: the dashboard (:mod:`akjob.dashboard`) counts, these draw. Every
text that comes from data is escaped. The SVGs scale to their container (``viewBox``), so one
drawing serves a desktop and a phone.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

WIDTH, HEIGHT = 720, 260
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 34, 30
# Status colours: the admin stylesheet's (succeeded green, failed red, missed amber …).
COLOURS = {
    "succeeded": "#2e7d32",
    "failed": "#c62828",
    "timed out": "#ad1457",
    "interrupted": "#6a1b9a",
    "missed": "#f9a825",
    "skipped": "#8d6e00",
    "running": "#1565c0",
}
LINES = {"p50": "#1565c0", "p99": "#c62828"}


def axis_top(value: float) -> float:
    """The top of an axis of four equal steps, each a "nice" number, at or above ``value``."""
    return 4 * nice_ceiling(value / 4)


def nice_ceiling(value: float) -> float:
    """The smallest 1, 2 or 5 times a power of ten at or above ``value`` (1 for 0)."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if value <= step * power:
            return float(step * power)
    return float(10 * power)


def _frame(title: str, labels: Sequence[str], top: float, unit: str) -> list[str]:
    """The SVG's opening, title, horizontal grid with values and the hour labels below."""
    inner_h = HEIGHT - TOP - BOTTOM
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'role="img" aria-label="{escape(title)}" class="akjob-chart" '
        f'preserveAspectRatio="xMidYMid meet" font-family="sans-serif" font-size="14">',
        f"<title>{escape(title)}</title>",
    ]
    for i in range(5):
        y = TOP + inner_h - inner_h * i / 4
        value = top * i / 4
        parts.append(
            f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" '
            'stroke="#999" stroke-opacity="0.3"/>'
        )
        parts.append(
            f'<text x="{LEFT - 4}" y="{y + 5:.1f}" text-anchor="end" fill="currentColor">'
            f"{escape(_number(value))}{escape(unit)}</text>"
        )
    slot = (WIDTH - LEFT - RIGHT) / max(len(labels), 1)
    for i, label in enumerate(labels):
        if i % 3 == 0:
            x = LEFT + slot * (i + 0.5)
            parts.append(
                f'<text x="{x:.1f}" y="{HEIGHT - 10}" text-anchor="middle" '
                f'fill="currentColor">{escape(label)}</text>'
            )
    return parts


def _number(value: float) -> str:
    if value >= 100 or value == int(value):
        return f"{value:.0f}"
    return f"{value:.2g}" if value < 1 else f"{value:.1f}"


def _legend(items: Sequence[tuple[str, str]]) -> list[str]:
    parts, x = [], LEFT
    for name, colour in items:
        parts.append(f'<rect x="{x}" y="8" width="12" height="12" fill="{colour}"/>')
        parts.append(f'<text x="{x + 16}" y="19" fill="currentColor">{escape(name)}</text>')
        x += 28 + 8 * len(name)
    return parts


def runs_per_hour(hours: Sequence[str], counts: Sequence[dict[str, int]], title: str) -> str:
    """Stacked bars: for each hour (its label), the runs of each status."""
    totals = [sum(c.values()) for c in counts]
    top = axis_top(max(totals, default=0))
    parts = _frame(title, hours, top, "")
    inner_h = HEIGHT - TOP - BOTTOM
    slot = (WIDTH - LEFT - RIGHT) / max(len(hours), 1)
    present = [s for s in COLOURS if any(c.get(s) for c in counts)]
    for i, (label, count) in enumerate(zip(hours, counts, strict=True)):
        y = TOP + inner_h
        for status in COLOURS:
            n = count.get(status, 0)
            if not n:
                continue
            h = inner_h * n / top
            y -= h
            parts.append(
                f'<rect x="{LEFT + slot * i + slot * 0.15:.1f}" y="{y:.1f}" '
                f'width="{slot * 0.7:.1f}" height="{h:.1f}" fill="{COLOURS[status]}" '
                f'class="akjob-bar" data-status="{escape(status)}" data-count="{n}">'
                f"<title>{escape(label)}: {n} {escape(status)}</title></rect>"
            )
    if not any(totals):
        parts.append(_empty("no runs in these hours"))
    parts += _legend([(s, COLOURS[s]) for s in present])
    parts.append("</svg>")
    return "".join(parts)


def lateness_per_hour(
    hours: Sequence[str], series: dict[str, Sequence[float | None]], title: str
) -> str:
    """Lines (one per series, e.g. p50 and p99), seconds per hour; a gap where an hour had no
    run started."""
    values = [v for line in series.values() for v in line if v is not None]
    top = axis_top(max(values, default=0))
    parts = _frame(title, hours, top, " s")
    inner_h = HEIGHT - TOP - BOTTOM
    slot = (WIDTH - LEFT - RIGHT) / max(len(hours), 1)
    for name, line in series.items():
        colour = LINES.get(name, "#555")
        points = []
        for i, value in enumerate(line):
            if value is None:
                if len(points) > 1:
                    parts.append(_polyline(points, colour, name))
                points = []
                continue
            x, y = LEFT + slot * (i + 0.5), TOP + inner_h - inner_h * value / top
            points.append((x, y))
            parts.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{colour}" '
                f'class="akjob-point" data-series="{escape(name)}">'
                f"<title>{escape(hours[i])}: {escape(name)} {value:.3f} s</title></circle>"
            )
        if len(points) > 1:
            parts.append(_polyline(points, colour, name))
    if not values:
        parts.append(_empty("no run started in these hours"))
    parts += _legend([(name, LINES.get(name, "#555")) for name in series])
    parts.append("</svg>")
    return "".join(parts)


def _polyline(points: list[tuple[float, float]], colour: str, name: str) -> str:
    text = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
    return (
        f'<polyline points="{text}" fill="none" stroke="{colour}" stroke-width="2" '
        f'data-series="{escape(name)}"/>'
    )


def _empty(text: str) -> str:
    return (
        f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle" fill="currentColor" '
        f'opacity="0.6">{escape(text)}</text>'
    )


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0–1) of sorted values, nearest rank."""
    if not sorted_values:
        raise ValueError("no values")
    rank = max(math.ceil(q * len(sorted_values)) - 1, 0)
    return sorted_values[min(rank, len(sorted_values) - 1)]
