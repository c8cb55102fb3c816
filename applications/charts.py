"""Small line charts as inline SVG, rendered on the server (no JavaScript, nothing from a CDN).

``line_chart`` draws series of ``(time, value)`` points over a fixed time window: a y axis from
0 to a rounded maximum with three grid lines, the window's start and end under the x axis, one
polyline per series (split where samples are missing, so a gap shows as a gap).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

COLOURS = ("#0d6efd", "#d63384", "#198754", "#fd7e14", "#6f42c1", "#20c997", "#dc3545", "#6c757d")
WIDTH, HEIGHT = 480, 160
LEFT, RIGHT, TOP, BOTTOM = 44, 8, 8, 20


@dataclass
class Series:
    label: str
    points: list[tuple[datetime, float]] = field(default_factory=list)
    colour: str = ""


def nice_max(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 times a power of ten at or above ``value`` (1 for nothing)."""
    if value <= 0 or not math.isfinite(value):
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * power:
            return step * power
    return 10 * power


def _label(value: float) -> str:
    return f"{value:.0f}" if value >= 10 or value == int(value) else f"{value:.1f}"


def _segments(points: list[tuple[datetime, float]], gap_s: float) -> list[list[tuple]]:
    segments: list[list[tuple]] = []
    for point in points:
        if not segments or (point[0] - segments[-1][-1][0]).total_seconds() > gap_s:
            segments.append([])
        segments[-1].append(point)
    return segments


def line_chart(
    title: str, unit: str, series: list[Series], start: datetime, end: datetime, gap_s: float = 60
) -> SafeString:
    span = max((end - start).total_seconds(), 1.0)
    values = [value for each in series for _, value in each.points]
    top = nice_max(max(values, default=0.0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(when: datetime) -> float:
        return LEFT + plot_w * min(max((when - start).total_seconds() / span, 0.0), 1.0)

    def y(value: float) -> float:
        return TOP + plot_h * (1 - min(max(value / top, 0.0), 1.0))

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'class="metric-chart" role="img" aria-label="{escape(title)} ({escape(unit)})">'
    ]
    for fraction in (0, 0.5, 1):
        level = TOP + plot_h * (1 - fraction)
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{level:.1f}" y2="{level:.1f}" '
            'stroke="currentColor" stroke-opacity="0.15"/>'
            f'<text x="{LEFT - 4}" y="{level + 3:.1f}" text-anchor="end" font-size="10" '
            f'fill="currentColor">{_label(top * fraction)}</text>'
        )
    parts.append(
        f'<text x="{LEFT}" y="{HEIGHT - 4}" font-size="10" fill="currentColor">'
        f'{start:%H:%M}</text><text x="{WIDTH - RIGHT}" y="{HEIGHT - 4}" font-size="10" '
        f'text-anchor="end" fill="currentColor">{end:%H:%M}</text>'
    )
    for each in series:
        for segment in _segments(each.points, gap_s):
            coords = " ".join(f"{x(when):.1f},{y(value):.1f}" for when, value in segment)
            if len(segment) == 1:
                cx, cy = coords.split(",")
                parts.append(f'<circle cx="{cx}" cy="{cy}" r="2" fill="{each.colour}"/>')
            else:
                parts.append(
                    f'<polyline points="{coords}" fill="none" stroke="{each.colour}" '
                    f'stroke-width="1.5" data-series="{escape(each.label)}"/>'
                )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every text above is escaped or a number
