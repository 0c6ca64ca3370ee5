"""Charts for the console's reports, drawn on the server as inline SVG.

SVG made here needs no script and no third-party file, so the pages keep the strict Content-Security-Policy
(`script-src 'self'`, no inline styles: colours are presentation attributes, which CSP does not govern) and
work without JavaScript. Each chart is an `<svg role="img">` with a title and a description for screen
readers; the page shows the same numbers in a table next to it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape

from markupsafe import Markup

WIDTH, HEIGHT = 640, 220
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 12, 40
# Colours readable by people with the common colour-vision deficiencies (the Okabe-Ito palette).
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000")
NAMED = {"COMPLETED": "#009E73", "FAILED": "#D55E00", "VALIDATION_FAILED": "#E69F00", "DECLINED": "#CC79A7"}


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float]


def stacked_bars(title: str, days: Sequence[str], series: Sequence[Series], *, unit: str = "") -> Markup:
    """One bar per day, each series stacked on the one before (counts per day by outcome, say)."""
    totals = [sum(s.values[i] or 0 for s in series) for i in range(len(days))]
    top = _nice_max(max(totals, default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = plot_w / max(len(days), 1)
    bar = max(step * 0.7, 1.0)
    shapes: list[str] = []
    for i in range(len(days)):
        base = 0.0
        for index, s in enumerate(series):
            value = float(s.values[i] or 0)
            if value <= 0:
                continue
            height = plot_h * value / top
            y = TOP + plot_h - plot_h * (base + value) / top
            shapes.append(
                f'<rect x="{LEFT + i * step + (step - bar) / 2:.1f}" y="{y:.1f}" width="{bar:.1f}" '
                f'height="{height:.1f}" fill="{_colour(s.name, index)}">'
                f"<title>{escape(days[i])}: {escape(s.name)} {value:g}{escape(unit)}</title></rect>"
            )
            base += value
    return _svg(title, _describe(days, series, unit), top, days, shapes, series)


def lines(title: str, days: Sequence[str], series: Sequence[Series], *, unit: str = "") -> Markup:
    """One line per series over the days (daily cost per project, say)."""
    top = _nice_max(max((v or 0 for s in series for v in s.values), default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = plot_w / max(len(days) - 1, 1)
    shapes = []
    for index, s in enumerate(series):
        points = " ".join(
            f"{LEFT + i * step:.1f},{TOP + plot_h - plot_h * float(v or 0) / top:.1f}" for i, v in enumerate(s.values)
        )
        shapes.append(f'<polyline points="{points}" fill="none" stroke="{_colour(s.name, index)}" stroke-width="2">'
                      f"<title>{escape(s.name)}</title></polyline>")
    return _svg(title, _describe(days, series, unit), top, days, shapes, series)


def _svg(title: str, description: str, top: float, days: Sequence[str], shapes: list[str],
         series: Sequence[Series]) -> Markup:
    plot_h = HEIGHT - TOP - BOTTOM
    ident = "chart-" + "".join(c if c.isalnum() else "-" for c in title.lower())
    axis = [
        f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{WIDTH - RIGHT}" y2="{TOP + plot_h}" stroke="#555"/>',
        f'<text x="{LEFT - 6}" y="{TOP + 4}" text-anchor="end" font-size="11" fill="#333">{top:g}</text>',
        f'<text x="{LEFT - 6}" y="{TOP + plot_h}" text-anchor="end" font-size="11" fill="#333">0</text>',
    ]
    if days:
        axis.append(f'<text x="{LEFT}" y="{HEIGHT - BOTTOM + 16}" font-size="11" fill="#333">{escape(days[0])}</text>')
        axis.append(f'<text x="{WIDTH - RIGHT}" y="{HEIGHT - BOTTOM + 16}" text-anchor="end" font-size="11" '
                    f'fill="#333">{escape(days[-1])}</text>')
    legend = [
        f'<rect x="{LEFT + i * 150}" y="{HEIGHT - 14}" width="10" height="10" fill="{_colour(s.name, i)}"/>'
        f'<text x="{LEFT + i * 150 + 14}" y="{HEIGHT - 5}" font-size="11" fill="#333">{escape(s.name)}</text>'
        for i, s in enumerate(series[:4])
    ]
    body = "".join([*axis, *shapes, *legend])
    return Markup(
        f'<svg class="chart" role="img" viewBox="0 0 {WIDTH} {HEIGHT}" aria-labelledby="{ident}-t {ident}-d" '
        f'xmlns="http://www.w3.org/2000/svg"><title id="{ident}-t">{escape(title)}</title>'
        f'<desc id="{ident}-d">{escape(description)}</desc>{body}</svg>'
    )


def _describe(days: Sequence[str], series: Sequence[Series], unit: str) -> str:
    if not days or not series:
        return "No data in this period."
    totals = ", ".join(f"{s.name} {sum(v or 0 for v in s.values):g}{unit}" for s in series)
    return f"From {days[0]} to {days[-1]}: {totals}."


def _colour(name: str, index: int) -> str:
    return NAMED.get(name, PALETTE[index % len(PALETTE)])


def _nice_max(value: float) -> float:
    """The axis top: the value rounded up to 1, 2 or 5 times a power of ten (at least 1)."""
    if value <= 1:
        return 1.0
    magnitude = 10 ** (len(str(int(value))) - 1)
    for factor in (1, 2, 5, 10):
        if value <= factor * magnitude:
            return float(factor * magnitude)
    return float(value)


def series_of(daily: Mapping[str, Sequence[float]]) -> tuple[list[str], list[Series]]:
    """A report's `Daily` JSON (`Days` and one list per series) as days and series."""
    days = list(daily.get("Days") or [])
    return days, [Series(str(name), list(values)) for name, values in daily.items() if name != "Days"]
