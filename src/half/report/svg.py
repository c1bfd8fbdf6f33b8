# SPDX-License-Identifier: Apache-2.0
"""The Pareto front plot as inline SVG (no plotting library, no external assets): validation
error against the goal's hardware cost on a log axis, every evaluated candidate, the front,
the re-evaluated designs and the chosen one. Hover a marker for its architecture and values
(SVG <title>)."""

from __future__ import annotations

import math
from html import escape

W, H = 760, 460  # canvas
LEFT, RIGHT, TOP, BOTTOM = 70, 190, 20, 50  # margins (the legend sits on the right)
COLORS = {
    "feasible": "#7b8fa6",
    "infeasible": "#b9b9b9",
    "front": "#e07b00",
    "reeval": "#1f6fb2",
    "chosen": "#c0152f",
    "axis": "#333",
    "grid": "#e4e4e4",
}


def _nice_step(span: float, n: int) -> float:
    raw = span / max(1, n)
    mag = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        if m * mag >= raw:
            return m * mag
    return 10 * mag


def linear_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """Round values between lo and hi, about n of them."""
    if hi <= lo:
        return [lo]
    step = _nice_step(hi - lo, n)
    first = math.ceil(lo / step - 1e-9) * step
    out, v = [], first
    while v <= hi + step * 1e-9:
        out.append(round(v, 12))
        v += step
    return out


def log_ticks(lo: float, hi: float) -> list[float]:
    """Values 1, 2 and 5 x 10^k between lo and hi (> 0); only the decades when there are
    many; round linear values when the range holds fewer than three of these."""
    out = []
    for k in range(math.floor(math.log10(lo)) - 1, math.ceil(math.log10(hi)) + 1):
        for m in (1, 2, 5):
            v = m * 10.0**k
            if lo * (1 - 1e-9) <= v <= hi * (1 + 1e-9):
                out.append(v)
    if len(out) > 9:
        out = [v for v in out if math.isclose(10 ** round(math.log10(v)), v)]
    if len(out) < 3:
        out = [v for v in linear_ticks(lo, hi, 4) if v > 0]
    return out


def _fmt(v: float) -> str:
    return f"{v:.4g}"


def pareto_svg(
    points: list[dict],
    front: list[dict],
    reevaluated: list[dict],
    chosen: str | None,
    *,
    cost_label: str,
    error_label: str,
) -> str:
    """points: every candidate ({arch_hash, error, cost, feasible, status}); front: the
    search's front ({arch_hash, error, cost}); reevaluated: the front trained again
    ({arch_hash, error, cost}); chosen: the chosen arch_hash. Candidates without a hardware
    cost (no design) cannot be placed: the caption counts them."""
    placed = [
        p
        for p in points
        if p.get("cost") is not None and p["cost"] > 0 and p.get("error") is not None
    ]
    every = placed + [p for p in (*front, *reevaluated) if p.get("cost") and p["cost"] > 0]
    if not every:
        return (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="80" role="img">'
            '<text x="10" y="40" font-size="14">no candidate has a hardware cost to plot'
            "</text></svg>"
        )
    xs = [math.log10(p["cost"]) for p in every]
    x_lo, x_hi = min(xs), max(xs)
    pad = max(0.05 * (x_hi - x_lo), 0.1)
    x_lo, x_hi = x_lo - pad, x_hi + pad
    ys = [p["error"] for p in every]
    y_lo, y_hi = max(0.0, min(ys) - 0.05), min(1.0, max(ys) + 0.05)
    if y_hi - y_lo < 0.1:
        y_lo, y_hi = max(0.0, y_lo - 0.05), min(1.0, y_hi + 0.05)
    pw, ph = W - LEFT - RIGHT, H - TOP - BOTTOM

    def sx(cost: float) -> float:
        return LEFT + (math.log10(cost) - x_lo) / (x_hi - x_lo) * pw

    def sy(err: float) -> float:
        return TOP + (y_hi - err) / (y_hi - y_lo) * ph

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="{W}" '
        f'height="{H}" role="img" aria-label="Pareto front" font-family="sans-serif" '
        f'font-size="12">'
    ]
    # grid and axes
    for v in log_ticks(10**x_lo, 10**x_hi):
        x = sx(v)
        out.append(
            f'<line x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{TOP + ph}" '
            f'stroke="{COLORS["grid"]}"/>'
        )
        out.append(f'<text x="{x:.1f}" y="{TOP + ph + 16}" text-anchor="middle">{_fmt(v)}</text>')
    for v in linear_ticks(y_lo, y_hi, 5):
        y = sy(v)
        out.append(
            f'<line x1="{LEFT}" y1="{y:.1f}" x2="{LEFT + pw}" y2="{y:.1f}" '
            f'stroke="{COLORS["grid"]}"/>'
        )
        out.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{_fmt(v)}</text>')
    out.append(
        f'<rect x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}" fill="none" '
        f'stroke="{COLORS["axis"]}"/>'
    )
    out.append(
        f'<text x="{LEFT + pw / 2:.1f}" y="{H - 12}" text-anchor="middle">'
        f"{escape(cost_label)} (log scale)</text>"
    )
    out.append(
        f'<text transform="translate(16 {TOP + ph / 2:.1f}) rotate(-90)" '
        f'text-anchor="middle">{escape(error_label)}</text>'
    )

    def tip(p: dict, what: str) -> str:
        return (
            f"<title>{escape(what)} {escape(str(p.get('arch_hash')))}: error "
            f"{_fmt(p['error'])}, {escape(cost_label)} {_fmt(p['cost'])}"
            + (f", {escape(str(p['status']))}" if p.get("status") else "")
            + "</title>"
        )

    for p in placed:  # every candidate: filled when feasible, hollow when not
        kind = "feasible" if p.get("feasible") else "infeasible"
        fill = COLORS[kind] if p.get("feasible") else "none"
        out.append(
            f'<circle class="{kind}" cx="{sx(p["cost"]):.1f}" cy="{sy(p["error"]):.1f}" '
            f'r="3.5" fill="{fill}" stroke="{COLORS[kind]}">{tip(p, kind)}</circle>'
        )
    steps = sorted((p for p in front if p.get("cost")), key=lambda p: (p["cost"], p["error"]))
    if len(steps) > 1:  # the front as a staircase: nothing below-left of it was found
        d = [f"M{sx(steps[0]['cost']):.1f},{sy(steps[0]['error']):.1f}"]
        for b in steps[1:]:
            d.append(f"H{sx(b['cost']):.1f}V{sy(b['error']):.1f}")
        out.append(
            f'<path d="{"".join(d)}" fill="none" stroke="{COLORS["front"]}" '
            'stroke-width="1.5" stroke-dasharray="4 3"/>'
        )
    for p in steps:
        out.append(
            f'<circle class="front" cx="{sx(p["cost"]):.1f}" cy="{sy(p["error"]):.1f}" '
            f'r="5" fill="{COLORS["front"]}">{tip(p, "front")}</circle>'
        )
    search_at = {p["arch_hash"]: p for p in steps}
    for p in reevaluated:
        if not p.get("cost"):
            continue
        x, y = sx(p["cost"]), sy(p["error"])
        s = search_at.get(p["arch_hash"])
        if s is not None:
            out.append(
                f'<line x1="{sx(s["cost"]):.1f}" y1="{sy(s["error"]):.1f}" x2="{x:.1f}" '
                f'y2="{y:.1f}" stroke="{COLORS["reeval"]}" stroke-width="0.8"/>'
            )
        out.append(
            f'<path class="reeval" d="M{x:.1f},{y - 6:.1f}L{x + 6:.1f},{y:.1f}'
            f'L{x:.1f},{y + 6:.1f}L{x - 6:.1f},{y:.1f}Z" fill="{COLORS["reeval"]}">'
            f"{tip(p, 're-evaluated')}</path>"
        )
        if p["arch_hash"] == chosen:
            out.append(
                f'<circle class="chosen" cx="{x:.1f}" cy="{y:.1f}" r="11" fill="none" '
                f'stroke="{COLORS["chosen"]}" stroke-width="2.5">'
                f"{tip(p, 'chosen')}</circle>"
            )
            out.append(
                f'<text x="{x + 14:.1f}" y="{y - 10:.1f}" fill="{COLORS["chosen"]}" '
                'font-weight="bold">chosen</text>'
            )
    # legend
    lx, ly = LEFT + pw + 16, TOP + 10
    items = [
        ("feasible", "candidate (feasible)", "dot"),
        ("infeasible", "candidate (infeasible)", "ring"),
        ("front", "search front", "dot"),
        ("reeval", "re-evaluated", "diamond"),
        ("chosen", "chosen design", "big"),
    ]
    for i, (key, label, shape) in enumerate(items):
        y = ly + i * 22
        c = COLORS[key]
        if shape == "dot":
            out.append(f'<circle cx="{lx + 6}" cy="{y}" r="4.5" fill="{c}"/>')
        elif shape == "ring":
            out.append(f'<circle cx="{lx + 6}" cy="{y}" r="4" fill="none" stroke="{c}"/>')
        elif shape == "diamond":
            out.append(
                f'<path d="M{lx + 6},{y - 6}L{lx + 12},{y}L{lx + 6},{y + 6}L{lx},{y}Z" fill="{c}"/>'
            )
        else:
            out.append(
                f'<circle cx="{lx + 6}" cy="{y}" r="8" fill="none" stroke="{c}" '
                'stroke-width="2.5"/>'
            )
        out.append(f'<text x="{lx + 20}" y="{y + 4}">{escape(label)}</text>')
    missing = len(points) - len(placed)
    if missing:
        out.append(
            f'<text x="{lx}" y="{ly + len(items) * 22 + 10}" fill="#666">'
            f"{missing} without a design</text>"
        )
        out.append(
            f'<text x="{lx}" y="{ly + len(items) * 22 + 26}" fill="#666">(not plotted)</text>'
        )
    out.append("</svg>")
    return "\n".join(out)


__all__ = ["linear_ticks", "log_ticks", "pareto_svg"]
