"""The report's comparison chart as inline SVG: one small panel per metric, bars per entry.

Drawn as text, not by matplotlib, because a report has one per section (dozens on a large
evaluation) and each matplotlib figure costs a few tenths of a second to lay out and encode;
the SVG costs microseconds, stays sharp when zoomed or printed, and every bar carries a
tooltip with its exact value and interval. It shows what :func:`scmf.pl.benchmark_comparison`
shows for one (source, dataset): bars with 95% intervals, ``*`` where the difference from the
baseline is significant (Holm-adjusted), but each metric on its own axis, so metrics of
different scales (an MSE beside a correlation) are never drawn against one axis.
"""

from __future__ import annotations

import math
from html import escape

import numpy as np

#: Okabe and Ito's palette (distinguishable with every common colour-vision deficiency), then two of Tol's
PALETTE = [
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#CC79A7",
    "#56B4E9",
    "#D55E00",
    "#F0E442",
    "#000000",
    "#999999",
    "#332288",
]
_BAR, _GAP, _PAD_L, _PAD_R, _PLOT_H, _TOP, _BOTTOM = 11, 2, 34, 8, 96, 22, 8


def _ticks(lo: float, hi: float) -> list[float]:
    span = hi - lo
    if not span > 0:
        return [lo]
    step = 10 ** math.floor(math.log10(span / 2))
    for m in (1, 2, 5, 10):
        if span / (m * step) <= 4:
            step *= m
            break
    first = math.ceil(lo / step) * step
    return [round(first + i * step, 12) for i in range(int((hi - first) / step + 1e-9) + 1)]


def _fmt(v: float) -> str:
    return f"{v:.3g}"


def comparison_chart(entries: list[str], metrics: list[dict], colours: dict[str, str]) -> str:
    """``metrics``: dicts with ``name``, ``arrow``, ``bounds`` ((lo, hi) or None) and ``bars``: per
    entry (in ``entries`` order) ``(value, ci_low, ci_high, significant, tooltip)`` or None."""
    panels = []
    x = 0
    for m in metrics:
        bars = [b for b in m["bars"] if b is not None and np.isfinite(b[0])]
        if not bars:
            continue
        values = [v for b in bars for v in b[:3] if np.isfinite(v)]
        lo, hi = min([*values, 0.0]), max([*values, 0.0])
        if m["bounds"] is not None:
            lo, hi = min(lo, m["bounds"][0]), max(hi, m["bounds"][1])
        if hi == lo:
            hi = lo + 1
        bars_w = len(entries) * (_BAR + _GAP)
        title_w = 6.2 * (len(m["name"]) + 2)  # the panel is at least as wide as its title
        width = _PAD_L + max(bars_w, title_w - _PAD_L / 2) + _PAD_R
        panels.append((x, width, m, lo, hi))
        x += width + 10
    if not panels:
        return ""
    legend_h = 16 * math.ceil(len(entries) / 4)
    total_w = round(max(x - 10, 320), 1)
    total_h = legend_h + _TOP + _PLOT_H + _BOTTOM
    out = [
        f'<svg class="chart" role="img" width="{total_w}" height="{total_h}" '
        f'viewBox="0 0 {total_w} {total_h}" font-family="system-ui, sans-serif" font-size="10">'
    ]
    for i, e in enumerate(entries):  # legend, four per line
        lx, ly = (i % 4) * (total_w / 4), 12 + 16 * (i // 4)
        out.append(f'<rect x="{lx:.1f}" y="{ly - 9}" width="10" height="10" fill="{colours[e]}"/>')
        out.append(
            f'<text x="{lx + 14:.1f}" y="{ly}">{escape(_short(e, 34))}<title>{escape(e)}</title></text>'
        )
    y0 = legend_h + _TOP
    for px, width, m, lo, hi in panels:

        def y(v, lo=lo, hi=hi):
            return y0 + _PLOT_H * (1 - (v - lo) / (hi - lo))

        out.append(f'<g transform="translate({px:.1f},0)">')
        offset = _PAD_L + (width - _PAD_L - _PAD_R - len(entries) * (_BAR + _GAP)) / 2
        out.append(
            f'<text x="{_PAD_L + (width - _PAD_L - _PAD_R) / 2:.1f}" y="{y0 - 8}" text-anchor="middle" font-weight="600">'
            f"{escape(m['name'])} {m['arrow']}</text>"
        )
        for t in _ticks(lo, hi):
            ty = y(t)
            out.append(
                f'<line x1="{_PAD_L - 3}" x2="{width - _PAD_R}" y1="{ty:.1f}" y2="{ty:.1f}" stroke="#e3e5e8"/>'
            )
            out.append(
                f'<text x="{_PAD_L - 5}" y="{ty + 3:.1f}" text-anchor="end" fill="#5f6368">{_fmt(t)}</text>'
            )
        base = y(0.0 if lo <= 0 <= hi else lo)
        out.append(
            f'<line x1="{_PAD_L}" x2="{width - _PAD_R}" y1="{base:.1f}" y2="{base:.1f}" stroke="#5f6368"/>'
        )
        for i, b in enumerate(m["bars"]):
            if b is None or not np.isfinite(b[0]):
                continue
            v, cl, ch, sig, tip = b
            bx = offset + i * (_BAR + _GAP)
            top, bottom = sorted((y(v), base))
            out.append(
                f'<rect x="{bx:.1f}" y="{top:.1f}" width="{_BAR}" height="{max(bottom - top, 0.5):.1f}" '
                f'fill="{colours[entries[i]]}"><title>{escape(tip)}</title></rect>'
            )
            cx = round(bx + _BAR / 2, 1)
            mark_y = top
            if np.isfinite(cl) and np.isfinite(ch):
                yl, yh = y(cl), y(ch)
                out.append(f'<line x1="{cx}" x2="{cx}" y1="{yl:.1f}" y2="{yh:.1f}" stroke="#1b1b1b"/>')
                out.append(
                    f'<line x1="{cx - 3}" x2="{cx + 3}" y1="{yh:.1f}" y2="{yh:.1f}" stroke="#1b1b1b"/>'
                )
                out.append(
                    f'<line x1="{cx - 3}" x2="{cx + 3}" y1="{yl:.1f}" y2="{yl:.1f}" stroke="#1b1b1b"/>'
                )
                mark_y = min(top, yh)
            if sig:
                out.append(
                    f'<text x="{cx}" y="{mark_y - 2:.1f}" text-anchor="middle" font-weight="700">*</text>'
                )
        out.append("</g>")
    out.append("</svg>")
    return "".join(out)


def _short(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def colours_for(entries: list[str]) -> dict[str, str]:
    return {e: PALETTE[i % len(PALETTE)] for i, e in enumerate(entries)}
