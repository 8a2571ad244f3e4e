"""Inline SVG plots for the report: line plots (linear or log axes) and histograms.

Input is the plain figure dict of :meth:`verify.Figure.to_json` (see
:mod:`verify.claims.figure`): ``None``/NaN/inf points are skipped (and on a log axis,
non-positive ones), an empty figure draws its frame with "no data", and a single
point or constant data gets a padded range. Every text that came from a figure
(title, labels, legend) is XML-escaped. Plain Python: no numpy, no matplotlib.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["distribution_figure", "figure_svg", "log_ticks", "nice_ticks"]

WIDTH, HEIGHT = 560, 320
LEFT, RIGHT, TOP, BOTTOM = 70, 16, 30, 48
PALETTE = ("#1f6fb4", "#d9531e", "#2a9d3c", "#8e44ad", "#c0392b", "#7f8c8d")
MARK_COLOUR = "#b30000"


def _esc(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _num(v: Any) -> float | None:
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def _fmt(v: float) -> str:
    if v == 0:
        return "0"
    a = abs(v)
    if a >= 1e4 or a < 1e-3:
        mant, exp = f"{v:.2e}".split("e")
        mant = mant.rstrip("0").rstrip(".")
        return f"{mant}e{int(exp)}"
    return f"{v:.4g}"


def nice_ticks(lo: float, hi: float, target: int = 5) -> list[float]:
    """Round tick values (1, 2, 5 × 10^k steps) covering ``[lo, hi]``.

    >>> nice_ticks(0.0, 1.0)
    [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    """
    span = hi - lo
    if not span > 0:
        return [lo]
    mag = 10 ** math.floor(math.log10(span / target))
    step = min((m * mag for m in (1, 2, 5, 10)), key=lambda st: (abs(span / st - target), st))
    first = math.ceil(lo / step - 1e-9)
    ticks = []
    k = first
    while k * step <= hi + 1e-9 * step:
        ticks.append(round(k * step, 12) + 0.0)
        k += 1
    return ticks


def log_ticks(lo: float, hi: float) -> list[float]:
    """Tick values on a log axis over ``[lo, hi]`` (both > 0): powers of ten, thinned or
    filled with 2 and 5 times them so that there are between 2 and about 8 ticks.

    >>> log_ticks(1e-3, 1e2)
    [0.001, 0.01, 0.1, 1.0, 10.0, 100.0]
    """
    a, b = math.floor(math.log10(lo) + 1e-9), math.ceil(math.log10(hi) - 1e-9)
    inside = lambda t: lo * (1 - 1e-9) <= t <= hi * (1 + 1e-9)
    exponents = [e for e in range(a, b + 1) if inside(10.0 ** e)]
    ticks = [10.0 ** e for e in exponents[::max(1, math.ceil(len(exponents) / 8))]]
    if len(ticks) < 3:
        ticks = sorted({m * 10.0 ** e for e in range(a - 1, b + 1) for m in (1, 2, 5) if inside(m * 10.0 ** e)})
    return ticks or [lo]


class _Axis:
    """Maps data values to pixels along one axis (linear or log10)."""

    def __init__(self, values: Sequence[float], log: bool, p0: float, p1: float, *, zero: bool = False):
        self.log = log
        vals = [v for v in values if v is not None and (v > 0 or not log)]
        if zero and not log:
            vals.append(0.0)
        if not vals:
            vals = [1.0] if log else [0.0, 1.0]
        lo, hi = min(vals), max(vals)
        if log:
            lo, hi = math.log10(lo), math.log10(hi)
            if hi - lo < 1e-12:
                lo, hi = lo - 0.5, hi + 0.5
            else:
                pad = 0.04 * (hi - lo)
                lo, hi = lo - pad, hi + pad
        elif hi - lo <= 1e-12 * max(abs(lo), abs(hi), 1e-300):
            width = abs(lo) * 0.1 or 1.0
            lo, hi = lo - width, hi + width
        else:
            pad = 0.04 * (hi - lo)
            lo = lo - pad if not (zero and lo == 0) else lo
            hi = hi + pad
        self.lo, self.hi, self.p0, self.p1 = lo, hi, p0, p1

    def __call__(self, v: float) -> float:
        t = math.log10(v) if self.log else v
        return self.p0 + (t - self.lo) / (self.hi - self.lo) * (self.p1 - self.p0)

    def valid(self, v: float | None) -> bool:
        return v is not None and (v > 0 or not self.log)

    def ticks(self) -> list[float]:
        if self.log:
            return log_ticks(10 ** self.lo, 10 ** self.hi)
        return nice_ticks(self.lo, self.hi)


def _frame(title: str, x_label: str, y_label: str, x: _Axis, y: _Axis) -> list[str]:
    x0, x1, y0, y1 = LEFT, WIDTH - RIGHT, HEIGHT - BOTTOM, TOP
    out = [f'<rect x="{x0}" y="{y1}" width="{x1 - x0}" height="{y0 - y1}" fill="#fff" stroke="#888"/>',
           f'<text x="{WIDTH / 2:.1f}" y="18" text-anchor="middle" class="t">{_esc(title)}</text>',
           f'<text x="{(x0 + x1) / 2:.1f}" y="{HEIGHT - 8}" text-anchor="middle">{_esc(x_label)}</text>',
           f'<text x="14" y="{(y0 + y1) / 2:.1f}" text-anchor="middle" '
           f'transform="rotate(-90 14 {(y0 + y1) / 2:.1f})">{_esc(y_label)}</text>']
    for t in x.ticks():
        px = x(t)
        if x0 - 0.5 <= px <= x1 + 0.5:
            out.append(f'<line x1="{px:.1f}" y1="{y0}" x2="{px:.1f}" y2="{y0 + 4}" stroke="#444"/>'
                       f'<line x1="{px:.1f}" y1="{y0}" x2="{px:.1f}" y2="{y1}" stroke="#eee"/>'
                       f'<text x="{px:.1f}" y="{y0 + 16}" text-anchor="middle" class="k">{_esc(_fmt(t))}</text>')
    for t in y.ticks():
        py = y(t)
        if y1 - 0.5 <= py <= y0 + 0.5:
            out.append(f'<line x1="{x0 - 4}" y1="{py:.1f}" x2="{x0}" y2="{py:.1f}" stroke="#444"/>'
                       f'<line x1="{x0}" y1="{py:.1f}" x2="{x1}" y2="{py:.1f}" stroke="#eee"/>'
                       f'<text x="{x0 - 6}" y="{py + 4:.1f}" text-anchor="end" class="k">{_esc(_fmt(t))}</text>')
    return out


def _marks(marks: Sequence[Mapping[str, Any]], x: _Axis, y: _Axis) -> list[str]:
    out, k = [], 0
    for m in marks:
        v = _num(m.get("value"))
        axis = x if m.get("axis", "x") == "x" else y
        if not axis.valid(v):
            continue
        p = axis(v)  # type: ignore[arg-type]
        label = _esc(m.get("label", ""))
        style = f'stroke="{MARK_COLOUR}" stroke-dasharray="5 3"'
        if axis is x:
            near_right = p > WIDTH - RIGHT - 80
            anchor = f'x="{p - 3:.1f}" text-anchor="end"' if near_right else f'x="{p + 3:.1f}"'
            out.append(f'<line x1="{p:.1f}" y1="{TOP}" x2="{p:.1f}" y2="{HEIGHT - BOTTOM}" {style}/>'
                       f'<text {anchor} y="{TOP + 12 + 13 * (k % 8)}" fill="{MARK_COLOUR}" class="m">{label}</text>')
            k += 1  # stagger the labels of several vertical marks
        else:
            out.append(f'<line x1="{LEFT}" y1="{p:.1f}" x2="{WIDTH - RIGHT}" y2="{p:.1f}" {style}/>'
                       f'<text x="{LEFT + 4}" y="{p - 4:.1f}" fill="{MARK_COLOUR}" class="m">{label}</text>')
    return out


def _legend(labels: Sequence[str]) -> tuple[list[str], int]:
    """The legend, to the right of the plot area (never over the data), and the width it adds."""
    shown = [(i, lab if len(lab) <= 40 else lab[:39] + "…") for i, lab in enumerate(labels) if lab]
    if not shown:
        return [], 0
    x, y = WIDTH - RIGHT + 12, TOP + 4
    width = 20 + round(6.6 * max(len(lab) for _, lab in shown))
    out = []
    for k, (i, lab) in enumerate(shown):
        colour = PALETTE[i % len(PALETTE)]
        yy = y + 16 * k + 8
        out.append(f'<rect x="{x}" y="{yy - 5}" width="10" height="10" fill="{colour}"/>'
                   f'<text x="{x + 14}" y="{yy + 4}">{_esc(lab)}</text>')
    return out, width + 12


def _svg(parts: list[str], title: str, extra: int = 0) -> str:
    width = WIDTH + extra
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="plot" width="{width}" height="{HEIGHT}" '
            f'viewBox="0 0 {width} {HEIGHT}" role="img" aria-label="{_esc(title)}">'
            '<style>text{font:12px sans-serif;fill:#222}.t{font-weight:bold}.k{font-size:11px}'
            '.m{paint-order:stroke;stroke:#fff;stroke-width:3px}</style>'
            + "".join(parts) + "</svg>")


def _line_plot(fig: Mapping[str, Any]) -> str:
    series = list(fig.get("series") or [])
    marks = list(fig.get("marks") or [])
    x_log, y_log = bool(fig.get("x_log")), bool(fig.get("y_log"))
    pts = [[(_num(a), _num(b)) for a, b in zip(s.get("x") or [], s.get("y") or [])] for s in series]
    xs = [a for p in pts for a, _ in p] + [_num(m.get("value")) for m in marks if m.get("axis", "x") == "x"]
    ys = [b for p in pts for _, b in p] + [_num(m.get("value")) for m in marks if m.get("axis") == "y"]
    x = _Axis([v for v in xs if v is not None], x_log, LEFT, WIDTH - RIGHT)
    y = _Axis([v for v in ys if v is not None], y_log, HEIGHT - BOTTOM, TOP)
    title = str(fig.get("title", ""))
    parts = _frame(title, str(fig.get("x_label", "")), str(fig.get("y_label", "")), x, y)
    drawn = 0
    for i, (s, p) in enumerate(zip(series, pts)):
        colour = PALETTE[i % len(PALETTE)]
        ok = [(x(a), y(b)) if x.valid(a) and y.valid(b) else None for a, b in p]
        drawn += sum(q is not None for q in ok)
        if s.get("style", "line") == "points":
            parts += [f'<circle cx="{q[0]:.1f}" cy="{q[1]:.1f}" r="3" fill="{colour}"/>' for q in ok if q]
            continue
        segment: list[tuple[float, float]] = []
        for q in ok + [None]:
            if q is not None:
                segment.append(q)
                continue
            if len(segment) == 1:
                parts.append(f'<circle cx="{segment[0][0]:.1f}" cy="{segment[0][1]:.1f}" r="2.5" fill="{colour}"/>')
            elif segment:
                coords = " ".join(f"{a:.1f},{b:.1f}" for a, b in segment)
                parts.append(f'<polyline points="{coords}" fill="none" stroke="{colour}" stroke-width="1.8"/>')
            segment = []
    if not drawn:
        parts.append(_no_data())
    parts += _marks(marks, x, y)
    legend, extra = _legend([str(s.get("label", "")) for s in series])
    return _svg(parts + legend, title, extra)


def _no_data() -> str:
    return (f'<text x="{(LEFT + WIDTH - RIGHT) / 2:.1f}" y="{(TOP + HEIGHT - BOTTOM) / 2:.1f}" '
            'text-anchor="middle" fill="#888">no data</text>')


def _histogram(fig: Mapping[str, Any]) -> str:
    series = list(fig.get("series") or [])
    marks = list(fig.get("marks") or [])
    x_log = bool(fig.get("x_log"))
    samples = [[v for v in (_num(a) for a in s.get("x") or []) if v is not None and (v > 0 or not x_log)]
               for s in series]
    every = [v for s in samples for v in s]
    title = str(fig.get("title", ""))
    if every:
        lo, hi = min(every), max(every)
        if x_log:
            lo, hi = math.log10(lo), math.log10(hi)
        bins = max(1, min(40, math.ceil(math.sqrt(len(every))) + 1))
        if hi - lo <= 1e-12 * max(abs(lo), abs(hi), 1e-300):
            width = (0.25 if x_log else abs(lo) * 0.05 or 0.5)
            lo, hi, bins = lo - width, hi + width, 1
        edges = [lo + (hi - lo) * k / bins for k in range(bins + 1)]
        counts = []
        for s in samples:
            c = [0] * bins
            for v in s:
                t = math.log10(v) if x_log else v
                c[min(bins - 1, max(0, int((t - lo) / (hi - lo) * bins)))] += 1
            counts.append(c)
        bounds = [10 ** e for e in edges] if x_log else edges
    else:
        counts, bounds = [], []
    mark_x = [_num(m.get("value")) for m in marks if m.get("axis", "x") == "x"]
    x = _Axis(bounds + [v for v in mark_x if v is not None], x_log, LEFT, WIDTH - RIGHT)
    top = max((max(c) for c in counts), default=1)
    y = _Axis([0.0, float(top)], False, HEIGHT - BOTTOM, TOP, zero=True)
    parts = _frame(title, str(fig.get("x_label", "")), str(fig.get("y_label", "") or "cases"), x, y)
    opacity = "0.85" if len(counts) == 1 else "0.5"
    for i, c in enumerate(counts):
        colour = PALETTE[i % len(PALETTE)]
        for k, n in enumerate(c):
            if n:
                a, b = x(bounds[k]), x(bounds[k + 1])
                parts.append(f'<rect x="{a:.1f}" y="{y(n):.1f}" width="{max(b - a - 1, 1):.1f}" '
                             f'height="{y(0) - y(n):.1f}" fill="{colour}" fill-opacity="{opacity}"/>')
    if not every:
        parts.append(_no_data())
    parts += _marks([m for m in marks if m.get("axis", "x") == "x"], x, y)
    legend, extra = _legend([str(s.get("label", "")) for s in series] if len(series) > 1 else [])
    return _svg(parts + legend, title, extra)


def figure_svg(fig: Mapping[str, Any]) -> str:
    """One figure dict (``Figure.to_json()``) as an ``<svg>`` element."""
    if fig.get("kind") == "histogram":
        return _histogram(fig)
    return _line_plot(fig)


def distribution_figure(distribution: Mapping[str, Any], relation: str, *, examples: Any = None,
                        counterexample: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
    """The histogram of the engine's per-case ratio (inequalities) or relative error.

    A log axis is used when the positive values span more than two decades; zeros (exact
    agreement) and non-positive values cannot go on it and are counted in the caption.
    Ratio 1 (where an inequality becomes an equality) is marked for inequalities.
    ``examples`` (the cases decided) tells how many cases had no ratio (rhs ≤ 0) when it is
    more than the histogram's ``cases``; ``counterexample`` (its comparison dict) is marked
    where its value is defined, and said to be missing where it is not.
    """
    values = [v for v in (_num(a) for a in distribution.get("values") or []) if v is not None]
    if not values:
        return None
    positive = [v for v in values if v > 0]
    x_log = bool(positive) and len(positive) >= 0.5 * len(values) and max(positive) / min(positive) > 100
    inequality = relation == "inequality"
    quantity = str(distribution.get("quantity") or ("ratio lhs/rhs" if inequality else "relative error"))
    cases = distribution.get("cases", len(values))
    caption = f"{cases} cases"
    if x_log and len(positive) < len(values):
        caption += f"; {len(values) - len(positive)} at or below 0 not shown on the log axis"
    n_cases, n_examples = _num(cases), _num(examples)
    if inequality and n_cases is not None and n_examples is not None and n_examples > n_cases:
        missing = int(n_examples - n_cases)
        caption += (f"; {missing} more case{'s' if missing != 1 else ''} had an undefined ratio "
                    "(rhs ≤ 0) and cannot be shown")
    marks = [{"axis": "x", "value": 1.0, "label": "ratio 1"}] if inequality else []
    if counterexample:
        at = _num(counterexample.get("ratio" if inequality else "rel_err"))
        if at is not None and (at > 0 or not x_log):
            marks.append({"axis": "x", "value": at, "label": "counterexample"})
        elif inequality:
            rhs = _num(counterexample.get("rhs"))
            why = f"rhs = {_fmt(rhs)} ≤ 0" if rhs is not None and rhs <= 0 else "rhs ≤ 0 or lhs not finite"
            caption += f"; the counterexample has no ratio ({why}), so it is not in the histogram"
    return {"kind": "histogram", "title": f"Distribution of the {quantity} over the cases",
            "x_label": quantity + (" (log scale)" if x_log else ""), "y_label": "cases", "x_log": x_log,
            "y_log": False, "caption": caption, "series": [{"label": quantity, "x": values, "y": [], "style": "line"}],
            "marks": marks}
