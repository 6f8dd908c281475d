"""Small server-rendered SVG charts (no JavaScript, nothing from a CDN).

Every label is escaped; the markup is safe to mark_safe in a template.
"""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

PALETTE = ["#2e6e8e", "#e07a1f", "#4a9a5b", "#b5485d", "#7a5fb0", "#8c8c2e", "#3aa6a6"]
WIDTH, HEIGHT = 640, 260
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 16, 56


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    value *= 1.05  # a little headroom above the tallest bar
    magnitude: int = 10 ** (len(str(int(value))) - 1)
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * magnitude:
            return step * magnitude
    return 10 * magnitude


def _fmt(value: float) -> str:
    if value >= 1_000_000:
        return f"{value / 1_000_000:g}M"
    if value >= 1000:
        return f"{value / 1000:g}k"
    return f"{value:g}"


def _frame(title: str, body: list[str], y_max: float, legend: list[tuple[str, str]]) -> str:
    plot_h = HEIGHT - TOP - BOTTOM
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
             f'width="100%" role="img" aria-label="{escape(title)}" class="kansha-chart" '
             f'style="max-width:{WIDTH}px;font:11px sans-serif">',
             f"<title>{escape(title)}</title>"]
    for i in range(5):
        y = TOP + plot_h - plot_h * i / 4
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
                     f'stroke="#ddd"/><text x="{LEFT - 6}" y="{y + 4:.1f}" '
                     f'text-anchor="end" fill="#555">{_fmt(y_max * i / 4)}</text>')
    parts += body
    x = LEFT
    for name, colour in legend:
        parts.append(f'<rect x="{x}" y="{HEIGHT - 14}" width="10" height="10" '
                     f'fill="{colour}"/><text x="{x + 14}" y="{HEIGHT - 5}" '
                     f'fill="#333">{escape(name)}</text>')
        x += 24 + 7 * len(name)
    parts.append("</svg>")
    return "".join(parts)


def _x_labels(labels: list[str], xs: list[float]) -> list[str]:
    every = max(1, len(labels) // 12)
    return [f'<text x="{x:.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle" '
            f'fill="#555">{escape(label)}</text>'
            for i, (label, x) in enumerate(zip(labels, xs, strict=True)) if i % every == 0]


def line_chart(title: str, labels: list[str], series: Mapping[StrOrPromise, list[float]]
               ) -> str:
    """One line per series over the x labels (e.g. periods)."""
    values = [v for vs in series.values() for v in vs if v == v]  # drop NaN
    y_max = _nice_max(max(values, default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    n = max(len(labels), 1)
    xs = [LEFT + (plot_w * (i + 0.5) / n) for i in range(len(labels))]
    body = _x_labels(labels, xs)
    legend = []
    for k, (name, vs) in enumerate(series.items()):
        colour = PALETTE[k % len(PALETTE)]
        points = [f"{x:.1f},{TOP + plot_h - plot_h * (v / y_max):.1f}"
                  for x, v in zip(xs, vs, strict=True) if v == v]
        if points:
            body.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" '
                        f'points="{" ".join(points)}"/>')
            body += [f'<circle cx="{p.split(",")[0]}" cy="{p.split(",")[1]}" r="2.5" '
                     f'fill="{colour}"/>' for p in points]
        legend.append((str(name), colour))
    return _frame(title, body, y_max, legend)


def bar_chart(title: str, labels: list[str], series: Mapping[StrOrPromise, list[float]]
              ) -> str:
    """Grouped bars: one group per label, one bar per series."""
    values = [v for vs in series.values() for v in vs if v == v]
    y_max = _nice_max(max(values, default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    n, k = max(len(labels), 1), max(len(series), 1)
    group_w = plot_w / n
    bar_w = max(2.0, group_w * 0.8 / k)
    xs = [LEFT + group_w * (i + 0.5) for i in range(len(labels))]
    body = _x_labels(labels, xs)
    legend = []
    for j, (name, vs) in enumerate(series.items()):
        colour = PALETTE[j % len(PALETTE)]
        for i, v in enumerate(vs):
            if v != v or v <= 0:
                continue
            h = plot_h * v / y_max
            x = LEFT + group_w * i + group_w * 0.1 + bar_w * j
            body.append(f'<rect x="{x:.1f}" y="{TOP + plot_h - h:.1f}" width="{bar_w:.1f}" '
                        f'height="{h:.1f}" fill="{colour}"><title>{escape(labels[i])} '
                        f'{escape(str(name))}: {v:g}</title></rect>')
        legend.append((str(name), colour))
    return _frame(title, body, y_max, legend)
