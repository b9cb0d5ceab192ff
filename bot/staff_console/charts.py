"""Simple server-side SVG charts: no script, readable on a phone, printable for funders' reports."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from markupsafe import Markup

PALETTE = ("#1f6feb", "#d1242f", "#bf8700", "#1a7f37", "#8250df", "#0a7e8c", "#cf222e", "#57606a")
WIDTH = 640
HEIGHT = 220
MARGIN_LEFT = 40
MARGIN_BOTTOM = 28
MARGIN_TOP = 10


@dataclass(frozen=True)
class Series:
    """A named row of values, one per category (e.g. per day)."""

    name: str
    values: tuple[float, ...]


def stacked_bars(title: str, categories: Sequence[str], series: Sequence[Series], unit: str = "") -> Markup:
    """Stacked vertical bars, one per category, with a legend; an empty chart says so."""
    totals = [sum(s.values[i] for s in series) for i in range(len(categories))]
    top = max(totals, default=0) or 1
    plot_width = WIDTH - MARGIN_LEFT - 10
    plot_height = HEIGHT - MARGIN_TOP - MARGIN_BOTTOM
    step = plot_width / max(len(categories), 1)
    bar = max(step * 0.7, 1)
    parts = [_axis(top, plot_height, unit)]
    for index, category in enumerate(categories):
        x = MARGIN_LEFT + index * step + (step - bar) / 2
        base = float(MARGIN_TOP + plot_height)
        for colour, row in zip(PALETTE * 4, series, strict=False):
            value = row.values[index]
            if value <= 0:
                continue
            height = value / top * plot_height
            base -= height
            parts.append(
                f'<rect x="{x:.1f}" y="{base:.1f}" width="{bar:.1f}" height="{height:.1f}" fill="{colour}">'
                f"<title>{escape(category)} · {escape(row.name)}: {_number(value)}{escape(unit)}</title></rect>"
            )
        if len(categories) <= 16 or index % max(len(categories) // 8, 1) == 0:
            parts.append(
                f'<text x="{x + bar / 2:.1f}" y="{HEIGHT - 10}" font-size="10" text-anchor="middle">'
                f"{escape(category)}</text>"
            )
    if not any(totals):
        parts.append(f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle">No data yet</text>')
    return _svg(title, parts, series)


def _axis(top: float, plot_height: float, unit: str) -> str:
    lines = []
    for fraction in (0.0, 0.5, 1.0):
        y = MARGIN_TOP + plot_height * (1 - fraction)
        lines.append(f'<line x1="{MARGIN_LEFT}" x2="{WIDTH - 10}" y1="{y:.1f}" y2="{y:.1f}" stroke="#d0d7de"/>')
        lines.append(
            f'<text x="{MARGIN_LEFT - 4}" y="{y + 4:.1f}" font-size="10" text-anchor="end">'
            f"{_number(top * fraction)}{escape(unit)}</text>"
        )
    return "".join(lines)


def _svg(title: str, parts: list[str], series: Sequence[Series]) -> Markup:
    legend = "".join(
        f'<li><svg width="10" height="10" aria-hidden="true"><rect width="10" height="10" fill="{colour}"/></svg> '
        f"{escape(row.name)}</li>"
        for colour, row in zip(PALETTE * 4, series, strict=False)
    )
    body = "".join(parts)
    return Markup(
        f'<figure class="chart"><figcaption>{escape(title)}</figcaption>'
        f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}" '
        f'font-family="sans-serif">{body}</svg><ul class="legend">{legend}</ul></figure>'
    )


def _number(value: float) -> str:
    return f"{value:.0f}" if value >= 10 or value == int(value) else f"{value:.1f}"
