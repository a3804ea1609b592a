"""Small inline-SVG charts (no JavaScript, no network): horizontal bars, grouped bars, lines.

Each chart is an <svg class="chart" data-chart=NAME> so a test can check every chart rendered.
"""

from __future__ import annotations

from html import escape

PALETTE = ["#3b6ea8", "#e07b39", "#5aa469", "#c94c4c", "#8e6bbf", "#8c6d5a", "#d17fb7", "#7f7f7f"]


def _fmt(v: float) -> str:
    if abs(v) >= 1e9:
        return f"{v / 1e9:.1f}G"
    if abs(v) >= 1e6:
        return f"{v / 1e6:.1f}M"
    if abs(v) >= 1e4:
        return f"{v / 1e3:.0f}k"
    if isinstance(v, float) and not v.is_integer():
        return f"{v:.3g}"
    return f"{int(v):,}"


def bars(name: str, items: list[tuple[str, float]], *, width: int = 640, unit: str = "") -> str:
    """Horizontal bars, one per (label, value)."""
    if not items:
        return ""
    row, label_w = 22, min(240, 16 + 8 * max(len(k) for k, _ in items))
    height = row * len(items) + 10
    top = max(v for _, v in items) or 1
    span = width - label_w - 80
    parts = [f'<svg class="chart" data-chart="{escape(name)}" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(name)}">']
    for i, (label, value) in enumerate(items):
        y = 5 + i * row
        w = max(1.0, span * value / top)
        parts.append(f'<text x="{label_w - 6}" y="{y + 15}" text-anchor="end">{escape(label)}</text>')
        parts.append(f'<rect x="{label_w}" y="{y + 3}" width="{w:.1f}" height="{row - 6}" '
                     f'fill="{PALETTE[0]}"><title>{escape(label)}: {value:,}</title></rect>')
        parts.append(f'<text x="{label_w + w + 4:.1f}" y="{y + 15}">{_fmt(value)}{escape(unit)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def grouped_bars(name: str, groups: list[str], series: dict[str, list[float]], *, width: int = 640) -> str:
    """Horizontal bars grouped per label, one colour per series (e.g. before / after)."""
    if not groups or not series:
        return ""
    n = len(series)
    row = 8 + 12 * n
    label_w = min(240, 16 + 8 * max(len(g) for g in groups))
    height = row * len(groups) + 30
    top = max((v for vals in series.values() for v in vals), default=1) or 1
    span = width - label_w - 80
    parts = [f'<svg class="chart" data-chart="{escape(name)}" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(name)}">']
    for k, sname in enumerate(series):
        parts.append(f'<rect x="{label_w + 110 * k}" y="4" width="10" height="10" fill="{PALETTE[k]}"/>'
                     f'<text x="{label_w + 14 + 110 * k}" y="13">{escape(sname)}</text>')
    for i, g in enumerate(groups):
        y = 22 + i * row
        parts.append(f'<text x="{label_w - 6}" y="{y + row / 2 + 4:.0f}" text-anchor="end">{escape(g)}</text>')
        for k, (sname, vals) in enumerate(series.items()):
            w = max(0.5, span * vals[i] / top)
            yy = y + 4 + 12 * k
            parts.append(f'<rect x="{label_w}" y="{yy}" width="{w:.1f}" height="10" fill="{PALETTE[k]}">'
                         f'<title>{escape(g)} {escape(sname)}: {vals[i]:,}</title></rect>'
                         f'<text x="{label_w + w + 4:.1f}" y="{yy + 9}" font-size="10">{_fmt(vals[i])}</text>')
    parts.append("</svg>")
    return "".join(parts)


def lines(name: str, series: dict[str, list[tuple[float, float]]], *, width: int = 640, height: int = 260,
          x_label: str = "step", y_label: str = "", log_y: bool = False) -> str:
    """Line chart of several (x, y) series with axes and a legend."""
    import math
    pts = [p for s in series.values() for p in s]
    if not pts:
        return ""
    fy = (lambda v: math.log10(max(v, 1e-12))) if log_y else (lambda v: v)
    x0, x1 = min(p[0] for p in pts), max(p[0] for p in pts)
    y0, y1 = min(fy(p[1]) for p in pts), max(fy(p[1]) for p in pts)
    x1, y1 = (x1 if x1 > x0 else x0 + 1), (y1 if y1 > y0 else y0 + 1)
    left, right, top, bottom = 60, 20, 16, 58
    pw, ph = width - left - right, height - top - bottom

    def sx(x):
        return left + pw * (x - x0) / (x1 - x0)

    def sy(y):
        return top + ph * (1 - (fy(y) - y0) / (y1 - y0))

    parts = [f'<svg class="chart" data-chart="{escape(name)}" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(name)}">',
             f'<line x1="{left}" y1="{top + ph}" x2="{left + pw}" y2="{top + ph}" stroke="#444"/>',
             f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + ph}" stroke="#444"/>',
             f'<text x="{left + pw / 2}" y="{top + ph + 28}" text-anchor="middle">{escape(x_label)}</text>',
             f'<text x="12" y="{top - 4}">{escape(y_label)}</text>']
    for frac in (0, 0.5, 1):
        yv = y0 + frac * (y1 - y0)
        label = 10 ** yv if log_y else yv
        y = top + ph * (1 - frac)
        parts.append(f'<text x="{left - 4}" y="{y + 4:.0f}" text-anchor="end" font-size="10">{_fmt(label)}</text>')
        xv = x0 + frac * (x1 - x0)
        parts.append(f'<text x="{left + pw * frac:.0f}" y="{top + ph + 14}" text-anchor="middle" '
                     f'font-size="10">{_fmt(xv)}</text>')
    for k, (sname, data) in enumerate(series.items()):
        d = " ".join(f"{'M' if i == 0 else 'L'}{sx(x):.1f},{sy(y):.1f}" for i, (x, y) in enumerate(data))
        parts.append(f'<path d="{d}" fill="none" stroke="{PALETTE[k % len(PALETTE)]}" stroke-width="1.6"/>')
        lx = left + 200 * k  # legend under the axis, one entry per series
        parts.append(f'<rect x="{lx}" y="{height - 16}" width="10" height="10" '
                     f'fill="{PALETTE[k % len(PALETTE)]}"/><text x="{lx + 14}" y="{height - 7}">'
                     f'{escape(sname)}</text>')
    parts.append("</svg>")
    return "".join(parts)
