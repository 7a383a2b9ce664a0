"""Line charts as inline SVG: a pure function from points to markup, no script, no styles
(the pages' Content-Security-Policy allows neither inline), every label escaped."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

__all__ = ["ChartSeries", "line_chart", "nice_ceiling", "time_ticks"]

_TICK_STEPS = (60, 300, 600, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400)
_LEFT, _RIGHT, _TOP, _BOTTOM = 52, 14, 26, 44
_GRID, _AXIS, _TEXT = "#e4e4e4", "#888888", "#333333"


@dataclass(frozen=True, slots=True)
class ChartSeries:
    """One line: a label for the legend, its colour (`#rrggbb`), its (time, value) points."""

    label: str
    colour: str
    points: Sequence[tuple[float, float]]

    def __post_init__(self) -> None:
        c = self.colour
        if len(c) != 7 or c[0] != "#" or any(ch not in "0123456789abcdefABCDEF" for ch in c[1:]):
            raise ValueError(f"series {self.label!r}: colour {c!r} is not #rrggbb")


def nice_ceiling(value: float) -> float:
    """The smallest 1, 2 or 5 × 10^k not below `value` (1 for nothing to show)."""
    if value <= 0 or not math.isfinite(value):
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if step * power >= value:
            return float(step * power)
    return float(10 * power)  # pragma: no cover - the loop always returns


def time_ticks(start: float, end: float, most: int = 8) -> list[tuple[float, str]]:
    """Round times between `start` and `end` (at most `most`), labelled in UTC."""
    span = max(1.0, end - start)
    step = next((s for s in _TICK_STEPS if span / s <= most), _TICK_STEPS[-1])
    while span / step > most:
        step *= 2
    fmt = "%m-%d" if step >= 86400 else "%H:%M"
    first = math.ceil(start / step) * step
    ticks = []
    t = float(first)
    while t <= end:
        ticks.append((t, time.strftime(fmt, time.gmtime(t))))
        t += step
    return ticks


def line_chart(
    title: str,
    series: Sequence[ChartSeries],
    start: float,
    end: float,
    *,
    gap: float = math.inf,
    width: int = 760,
    height: int = 230,
) -> str:
    """An `<svg>` chart of `series` over [start, end]; a line breaks where two points are
    more than `gap` seconds apart (no data there)."""
    plot_w = width - _LEFT - _RIGHT
    plot_h = height - _TOP - _BOTTOM
    span = max(1.0, end - start)
    values = [v for s in series for t, v in s.points if start <= t <= end]
    top = nice_ceiling(max(values, default=0.0))

    def x(t: float) -> float:
        return _LEFT + plot_w * (t - start) / span

    def y(v: float) -> float:
        return _TOP + plot_h * (1 - v / top)

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>',
        f'<text x="{_LEFT}" y="16" font-size="13" font-weight="bold" fill="{_TEXT}">'
        f"{escape(title)}</text>",
    ]
    for i in range(5):
        v = top * i / 4
        gy = y(v)
        out.append(
            f'<line x1="{_LEFT}" y1="{gy:.1f}" x2="{_LEFT + plot_w}" y2="{gy:.1f}" '
            f'stroke="{_GRID if i else _AXIS}" stroke-width="1"/>'
        )
        out.append(
            f'<text x="{_LEFT - 6}" y="{gy + 4:.1f}" font-size="11" text-anchor="end" '
            f'fill="{_TEXT}">{_number(v)}</text>'
        )
    for t, label in time_ticks(start, end):
        tx = x(t)
        out.append(
            f'<line x1="{tx:.1f}" y1="{_TOP}" x2="{tx:.1f}" y2="{_TOP + plot_h}" '
            f'stroke="{_GRID}" stroke-width="1"/>'
        )
        out.append(
            f'<text x="{tx:.1f}" y="{_TOP + plot_h + 15}" font-size="11" '
            f'text-anchor="middle" fill="{_TEXT}">{label}</text>'
        )
    if not values:
        out.append(
            f'<text x="{_LEFT + plot_w / 2:.1f}" y="{_TOP + plot_h / 2:.1f}" font-size="13" '
            f'text-anchor="middle" fill="{_AXIS}" class="no-data">no data in this range</text>'
        )
    for s in series:
        for run in _runs([(t, v) for t, v in s.points if start <= t <= end], gap):
            coords = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in run)
            if len(run) == 1:
                cx, cy = coords.split(",")
                out.append(f'<circle cx="{cx}" cy="{cy}" r="2.5" fill="{s.colour}"/>')
            else:
                out.append(
                    f'<polyline class="series" data-series="{escape(s.label)}" '
                    f'points="{coords}" fill="none" stroke="{s.colour}" stroke-width="2" '
                    'stroke-linejoin="round"/>'
                )
    out += _legend(series, height)
    out.append("</svg>")
    return "".join(out)


def _legend(series: Sequence[ChartSeries], height: int) -> list[str]:
    """A colour swatch and the label of each series, in a row under the plot."""
    out = []
    lx = _LEFT
    ly = height - 10
    for s in series:
        out.append(f'<rect x="{lx}" y="{ly - 9}" width="14" height="4" fill="{s.colour}"/>')
        out.append(
            f'<text x="{lx + 18}" y="{ly - 4}" font-size="11" fill="{_TEXT}">'
            f"{escape(s.label)}</text>"
        )
        lx += 28 + 7 * len(s.label)
    return out


def _runs(points: list[tuple[float, float]], gap: float) -> list[list[tuple[float, float]]]:
    runs: list[list[tuple[float, float]]] = []
    for point in sorted(points):
        if runs and point[0] - runs[-1][-1][0] <= gap:
            runs[-1].append(point)
        else:
            runs.append([point])
    return runs


def _number(v: float) -> str:
    return f"{v:g}" if v < 10 or v != int(v) else f"{int(v):,}"
