"""Charts of the leaderboard site as standalone inline SVG strings.

Pure functions of plain data, standard library only, so a page opened from file:// with no
internet draws them. Every user string (titles, labels, axis names) passes `html.escape`:
it can only ever be text. NaN and None numbers are skipped, coordinates have one decimal,
and the same input gives the same bytes. An empty chart is "".

Marks carry classes for the page's stylesheet and for tests: `dot`, `point`, `marker`, `bar`
and `count` (data marks; `accent` or `muted` beside `dot`/`point`), `ci` (error bars), `front`
(the Pareto line), `series` (a line chart's path), `reference` (dashed lines), `zero`,
`value` (numbers printed beside rows), `label` and `legend-item` (groups holding a `<title>`
with the full text).
"""

from __future__ import annotations

import html
import math
import numbers
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

ACCENT = "#2563eb"
MUTED = "#9ca3af"  # dominated / secondary marks
SECONDARY = "#94a3b8"  # grey-blue: the dot chart's non-highlighted rows
GRID = "#e5e7eb"
TEXT = "#374151"
SOFT_TEXT = "#6b7280"  # grey labels still readable on white
HEADING = "#111827"
FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif'
PALETTE = ("#2563eb", "#dc2626", "#059669", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#4b5563")
MAX_LABEL = 38
CHAR_PX = 7.0  # rough width of a 12px character, to size margins without measuring text
ROW = 26
WIDTH = 720
LIMIT = 1e100
_BAD_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


@dataclass(frozen=True)
class Interval:
    label: str
    value: float
    low: float | None = None  # CI bounds, None or NaN when unknown
    high: float | None = None
    highlight: bool = False  # the best model or its tie group: accent coloured


@dataclass(frozen=True)
class Point:
    label: str
    x: float
    y: float
    highlight: bool = False  # e.g. on the Pareto front


@dataclass(frozen=True)
class Series:
    label: str
    xs: list[float]
    ys: list[float | None]
    lows: list[float | None] | None = None
    highs: list[float | None] | None = None


@dataclass(frozen=True)
class Bars:
    label: str  # one group (a model)
    values: dict[str, float | None]  # series name -> value
    lows: dict[str, float | None] | None = None
    highs: dict[str, float | None] | None = None


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Evenly spaced ticks covering [lo, hi], about `count` of them (3 to 7 for count=5), at a
    step of 1, 2, 2.5 or 5 × 10^k. A single value gets a small range around it."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or count < 2:
        raise ValueError(f"nice_ticks needs finite bounds and count >= 2, got {lo}, {hi}, {count}")
    lo, hi = min(lo, hi), max(lo, hi)
    if hi - lo <= 1e-9 * max(abs(lo), abs(hi), 1e-200):  # (near) a single value; also no denormal steps
        pad = abs(lo) * 0.1 or 1.0
        lo, hi = lo - pad, hi + pad
    raw = (hi - lo) / (count - 1)
    if not math.isfinite(raw):
        raise ValueError(f"nice_ticks: range too large ({lo}, {hi})")
    mag = 10.0 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw * (1 - 1e-9))
    first, last = math.floor(lo / step + 1e-9), math.ceil(hi / step - 1e-9)  # no extra tick from float noise
    digits = max(0, 2 - math.floor(math.log10(step)))  # rounding snaps 0.30000000000000004 to 0.3
    ticks = [round(k * step, digits) + 0.0 for k in range(first, last + 1)]  # + 0.0: no -0.0
    if not all(math.isfinite(t) for t in ticks):
        raise ValueError(f"nice_ticks: range too large ({lo}, {hi})")
    return ticks


def _log_ticks(lo: float, hi: float) -> list[float]:
    a, b = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
    if a == b:
        a, b = a - 1, b + 1
    if b - a <= 2:  # few decades: 2x and 5x keep the axis readable
        return [m * 10.0**e for e in range(a, b + 1) for m in (1, 2, 5) if m == 1 or e < b]
    stride = math.ceil((b - a) / 8)  # many decades: at most ~9 labels
    b = a + stride * math.ceil((b - a) / stride)
    return [10.0**e for e in range(a, b + 1, stride)]


def _fin(v: object) -> float | None:
    """v as a float when it is a finite number, else None (NaN, inf, None, text). Beyond ±1e100
    counts as missing too: only an overflow gets there, and padding it would reach inf."""
    if isinstance(v, bool) or not isinstance(v, numbers.Real):  # Real: numpy scalars too
        return None
    f = float(v)
    return f if math.isfinite(f) and abs(f) <= LIMIT else None


def _esc(s: object) -> str:
    """Text safe in an SVG: escaped markup, and no character XML forbids (control codes, lone surrogates)."""
    return html.escape(_BAD_XML.sub("\ufffd", str(s)), quote=True)


def _c(x: float) -> str:
    s = f"{x:.1f}"
    return "0.0" if s == "-0.0" else s


def _n(v: float) -> str:
    return f"{v:.3f}" if abs(v) < 1e6 else f"{v:.4g}"  # a cost of 1e12 needs no 16 digits


def _short(s: str, n: int = MAX_LABEL) -> str:
    return s if len(s) <= n else s[: n - 1] + "…"


def _ci(v: float, lo: float | None, hi: float | None) -> str:
    return f"{_n(v)} [{_n(lo)}, {_n(hi)}]" if lo is not None and hi is not None else _n(v)


def _si(t: float) -> str:
    """A log-axis tick as people write costs: 500k, 2M, 1G."""
    for scale, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(t) >= scale:
            return f"{t / scale:g}{suffix}"
    return f"{t:g}"


def _tick_labels(ticks: Sequence[float], log: bool = False) -> list[str]:
    if log:
        return [_si(t) for t in ticks]
    digits = next((d for d in range(7) if all(abs(round(t, d) - t) < 1e-9 * max(1.0, abs(t)) for t in ticks)), 6)
    return [f"{t:.{digits}f}".removeprefix("-") if round(t, digits) == 0 else f"{t:.{digits}f}" for t in ticks]


@dataclass(frozen=True)
class _Scale:
    d0: float
    d1: float
    r0: float
    r1: float
    log: bool = False

    def _t(self, v: float) -> float:
        return math.log10(v) if self.log else v

    def __call__(self, v: float) -> float:
        a, b = self._t(self.d0), self._t(self.d1)
        frac = (self._t(v) - a) / (b - a) if b != a else 0.5
        return self.r0 + frac * (self.r1 - self.r0)


def _svg(w: int, h: float, title: str, body: list[str]) -> str:
    t, hh = _esc(title), f"{math.ceil(h)}"
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {hh}" width="100%" '
            f'style="max-width:{w}px;height:auto" role="img" aria-label="{t}" '
            f'font-family="{_esc(FONT)}" font-size="12">')
    heading = _text(12, 24, _short(title, int(w / 8)), fill=HEADING, size=14, extra=' font-weight="600"')
    return "\n".join([head, f"<title>{t}</title>", f'<rect class="bg" width="{w}" height="{hh}" fill="#ffffff"/>',
                      heading, *body, "</svg>"]) + "\n"


def _text(x: float, y: float, s: str, *, anchor: str = "start", fill: str = TEXT, size: int = 12,
          cls: str = "", extra: str = "") -> str:
    c = f' class="{cls}"' if cls else ""
    return (f'<text{c} x="{_c(x)}" y="{_c(y)}" text-anchor="{anchor}" font-size="{size}" fill="{fill}"{extra}>'
            f"{_esc(s)}</text>")


def _label(x: float, y: float, full: str, *, anchor: str = "end", fill: str = TEXT, n: int = MAX_LABEL) -> str:
    """A label that may be truncated, its full text kept as the group's tooltip."""
    return f'<g class="label"><title>{_esc(full)}</title>{_text(x, y, _short(full, n), anchor=anchor, fill=fill)}</g>'


def _line(x1: float, y1: float, x2: float, y2: float, stroke: str, *, cls: str = "", width: float = 1,
          dash: bool = False, tip: str = "") -> str:
    c = f' class="{cls}"' if cls else ""
    d = ' stroke-dasharray="4 3"' if dash else ""
    attrs = f'x1="{_c(x1)}" y1="{_c(y1)}" x2="{_c(x2)}" y2="{_c(y2)}" stroke="{stroke}" stroke-width="{width:g}"{d}'
    return f"<line{c} {attrs}><title>{_esc(tip)}</title></line>" if tip else f"<line{c} {attrs}/>"


def _circle(x: float, y: float, r: float, fill: str, cls: str, tip: str) -> str:
    return (f'<circle class="{cls}" cx="{_c(x)}" cy="{_c(y)}" r="{r:g}" fill="{fill}" stroke="#ffffff" '
            f'stroke-width="1"><title>{_esc(tip)}</title></circle>')


def _rect(x: float, y: float, w: float, h: float, fill: str, cls: str, tip: str, extra: str = "") -> str:
    return (f'<rect class="{cls}" x="{_c(x)}" y="{_c(y)}" width="{_c(max(w, 0.0))}" height="{_c(max(h, 0.0))}" '
            f'fill="{fill}"{extra}><title>{_esc(tip)}</title></rect>')


def _hbar(x_lo: float, x_hi: float, y: float, stroke: str, caps: tuple[bool, bool], tip: str) -> list[str]:
    """A horizontal error bar with end caps where the bound is known."""
    out = [_line(x_lo, y, x_hi, y, stroke, cls="ci", width=1.5, tip=tip)]
    out += [_line(x, y - 4, x, y + 4, stroke, width=1.5) for x, cap in zip((x_lo, x_hi), caps, strict=True) if cap]
    return out


def _x_axis(sx: _Scale, ticks: Sequence[float], y_top: float, y_bot: float, name: str, log: bool = False,
            name_dy: float = 36) -> list[str]:
    out = [_line(sx(t), y_top, sx(t), y_bot, GRID) for t in ticks]
    out += [_text(sx(t), y_bot + 16, s, anchor="middle") for t, s in zip(ticks, _tick_labels(ticks, log), strict=True)]
    out.append(_text((sx.r0 + sx.r1) / 2, y_bot + name_dy, name, anchor="middle"))
    return out


def _y_axis(sy: _Scale, ticks: Sequence[float], x_left: float, x_right: float, name: str) -> list[str]:
    out = [_line(x_left, sy(t), x_right, sy(t), GRID) for t in ticks]
    out += [_text(x_left - 8, sy(t) + 4, s, anchor="end") for t, s in zip(ticks, _tick_labels(ticks), strict=True)]
    mid = (sy.r0 + sy.r1) / 2
    out.append(_text(16, mid, name, anchor="middle", extra=f' transform="rotate(-90 16 {_c(mid)})"'))
    return out


def _legend_item(x: float, y: float, label: str, colour: str, n: int = 24) -> str:
    return (f'<g class="legend-item"><title>{_esc(label)}</title><rect x="{_c(x)}" y="{_c(y - 10)}" width="12" '
            f'height="12" rx="2" fill="{colour}"/>{_text(x + 18, y, _short(label, n))}</g>')


def _label_margin(labels: Iterable[str]) -> float:
    return min(260.0, max(60.0, max(CHAR_PX * len(_short(s)) for s in labels) + 20))


def _span(values: Iterable[float | None]) -> tuple[float, float]:
    vs = [v for v in values if v is not None]
    return min(vs), max(vs)


def dot_chart(items: list[Interval], *, title: str, axis: str, higher_is_better: bool = True,
              reference: float | None = None) -> str:
    """One row per item with a finite value, in order: a dot at the value, a whisker over its CI."""
    rows = [(it, v, _fin(it.low), _fin(it.high)) for it in items if (v := _fin(it.value)) is not None]
    if not rows:
        return ""
    ref = _fin(reference)
    ticks = nice_ticks(*_span([x for _, v, lo, hi in rows for x in (v, lo, hi)] + [ref]))
    right = max(56.0, max(len(_n(v)) for _, v, _, _ in rows) * CHAR_PX + 20)
    top, x0 = 40.0, _label_margin(it.label for it, *_ in rows)
    x1, y_end = WIDTH - right, top + ROW * len(rows)
    sx = _Scale(ticks[0], ticks[-1], x0, x1)
    better = f"{axis} (higher is better →)" if higher_is_better else f"{axis} (← lower is better)"
    body = _x_axis(sx, ticks, top, y_end, better)
    if ref is not None:
        body.append(_line(sx(ref), top, sx(ref), y_end, SOFT_TEXT, cls="reference", dash=True))
    for i, (it, v, lo, hi) in enumerate(rows):
        y, colour = top + ROW * (i + 0.5), ACCENT if it.highlight else SECONDARY
        tip = f"{it.label}: {_ci(v, lo, hi)}"
        body.append(_label(x0 - 10, y + 4, it.label))
        a, b = (lo if lo is not None else v), (hi if hi is not None else v)
        if a != b:
            body += _hbar(sx(min(a, b)), sx(max(a, b)), y, colour, (lo is not None, hi is not None), tip)
        body.append(_circle(sx(v), y, 5, colour, "dot accent" if it.highlight else "dot muted", tip))
        body.append(_text(x1 + 10, y + 4, _n(v), cls="value"))
    return _svg(WIDTH, y_end + 50, title, body)


def scatter(points: list[Point], *, title: str, x_axis: str, y_axis: str, log_x: bool = False,
            connect_highlighted: bool = True) -> str:
    """Accuracy against cost: highlighted points (the Pareto front) in the accent colour, joined
    by a staircase in x order; the others grey. With log_x points at x <= 0 (or below 1e-100) are skipped."""
    pts: list[tuple[Point, float, float]] = []
    for p in points:
        x, y = _fin(p.x), _fin(p.y)
        if x is not None and y is not None and (x >= 1 / LIMIT or not log_x):
            pts.append((p, x, y))
    if not pts:
        return ""
    height, top, x0, x1 = 440, 40.0, 64.0, WIDTH - 24.0
    y1 = height - 60.0
    xlo, xhi = _span(x for _, x, _ in pts)
    xt = _log_ticks(xlo, xhi) if log_x else nice_ticks(xlo, xhi)
    yt = nice_ticks(*_span(y for _, _, y in pts))
    sx, sy = _Scale(xt[0], xt[-1], x0, x1, log=log_x), _Scale(yt[0], yt[-1], y1, top)
    body = _x_axis(sx, xt, top, y1, x_axis, log=log_x) + _y_axis(sy, yt, x0, x1, y_axis)
    front = sorted(((x, y) for p, x, y in pts if p.highlight), key=lambda xy: xy)
    if connect_highlighted and len(front) > 1:
        # A staircase: the region a front point dominates ends where the next one begins.
        d = f"M{_c(sx(front[0][0]))},{_c(sy(front[0][1]))}"
        for (_, y_prev), (x, y) in zip(front, front[1:], strict=False):
            d += f" L{_c(sx(x))},{_c(sy(y_prev))} L{_c(sx(x))},{_c(sy(y))}"
        body.append(f'<path class="front" d="{d}" fill="none" stroke="{ACCENT}" stroke-width="1.5" '
                    f'stroke-opacity="0.6"/>')
    marks: list[str] = []
    placed: list[tuple[float, float, float]] = []  # (left, right, baseline) of the labels so far
    labels: list[str] = []
    ordered = sorted(pts, key=lambda t: (not t[0].highlight, sy(t[2]), t[0].label))  # the front's labels first
    for p, x, y in ordered:
        px, py = sx(x), sy(y)
        tip = f"{p.label}: {x_axis} {x:.4g}, {y_axis} {_n(y)}"
        cls, colour = ("point accent", ACCENT) if p.highlight else ("point muted", MUTED)
        marks.append(_circle(px, py, 5 if p.highlight else 4, colour, cls, tip))
        flip = px > x0 + 0.75 * (x1 - x0)  # near the right edge the label goes left of its point
        width = len(_short(p.label, 24)) * CHAR_PX
        left, right = (px - 7 - width, px - 7) if flip else (px + 7, px + 7 + width)
        baseline = _free_line(placed, left, right, py - 7)
        placed.append((left, right, baseline))
        labels.append(_label(px - 7 if flip else px + 7, baseline, p.label, anchor="end" if flip else "start",
                             fill=ACCENT if p.highlight else SOFT_TEXT, n=24))
    marks.sort(key=lambda m: "accent" in m)  # accent marks drawn last, on top
    return _svg(WIDTH, height, title, body + marks + labels)


def _free_line(placed: list[tuple[float, float, float]], left: float, right: float, want: float,
               line: float = 13.0) -> float:
    """The baseline nearest `want` (trying below, then above, a line at a time) where a label
    spanning [left, right] overlaps none already placed: crowded points stay readable."""
    for step in range(40):
        for candidate in ((want + step * line, want - step * line) if step else (want,)):
            if all(right < a or left > b or abs(candidate - y) >= line for a, b, y in placed):
                return candidate
    return want


def _clamp01(v: float) -> float:
    return min(1.0, max(0.0, v))  # a bin reaching outside [0, 1] stays in the frame


def _at(values: Sequence[float | None] | None, i: int) -> float | None:
    return _fin(values[i]) if values is not None and i < len(values) else None


def line_chart(series: list[Series], *, title: str, x_axis: str, y_axis: str,
               x_ticks: list[float] | None = None, y_range: tuple[float, float] | None = None,
               reference: float | None = None) -> str:
    """One coloured line with markers per series (a None y breaks it), optional error bars,
    a legend at the right. y_range is the least range shown: data outside widens it."""
    data: list[list[tuple[float, float | None, float | None, float | None]]] = []
    for s in series:
        row = []
        for i, raw_x in enumerate(s.xs):
            x = _fin(raw_x)
            if x is not None:
                row.append((x, _at(s.ys, i), _at(s.lows, i), _at(s.highs, i)))
        data.append(row)
    xs = [x for row in data for x, y, _, _ in row if y is not None]
    if not xs:
        return ""
    fixed = sorted({t for t in (_fin(v) for v in x_ticks or []) if t is not None})
    ref = _fin(reference)
    ys = [v for row in data for _, y, lo, hi in row if y is not None for v in (y, lo, hi)]
    ys += [ref, *(_fin(v) for v in y_range or ())]
    xlo, xhi = _span(xs + fixed)
    xt = fixed or nice_ticks(xlo, xhi)
    if xlo == xhi:
        xlo, xhi = xlo - 0.5, xhi + 0.5
    elif not fixed:
        xlo, xhi = xt[0], xt[-1]
    yt = nice_ticks(*_span(ys))
    legend_w = min(200.0, max(len(_short(s.label, 24)) for s in series) * CHAR_PX + 40)
    height, top, x0 = max(400, 100 + 20 * len(series)), 40.0, 64.0  # room for a long legend
    x1, y1 = WIDTH - legend_w - 16, height - 60.0
    sx, sy = _Scale(xlo, xhi, x0, x1), _Scale(yt[0], yt[-1], y1, top)
    body = _x_axis(sx, xt, top, y1, x_axis) + _y_axis(sy, yt, x0, x1, y_axis)
    if ref is not None:
        body.append(_line(x0, sy(ref), x1, sy(ref), SOFT_TEXT, cls="reference", dash=True))
    for k, (s, row) in enumerate(zip(series, data, strict=True)):
        colour = PALETTE[k % len(PALETTE)]
        body.append(_legend_item(x1 + 24, top + 12 + 20 * k, s.label, colour))
        d, pen_down, marks = [], False, []
        for x, y, lo, hi in row:
            if y is None:
                pen_down = False
                continue
            d.append(f"{'L' if pen_down else 'M'}{_c(sx(x))},{_c(sy(y))}")
            pen_down = True
            tip = f"{s.label}, {x_axis} {x:g}: {_ci(y, lo, hi)}"
            if lo is not None and hi is not None:
                px = sx(x)
                marks += [_line(px, sy(lo), px, sy(hi), colour, cls="ci", width=1.5, tip=tip),
                          _line(px - 3, sy(lo), px + 3, sy(lo), colour), _line(px - 3, sy(hi), px + 3, sy(hi), colour)]
            marks.append(_circle(sx(x), sy(y), 3.5, colour, "marker", tip))
        if d:
            body.append(f'<path class="series" d="{" ".join(d)}" fill="none" stroke="{colour}" stroke-width="2" '
                        f'stroke-linejoin="round"><title>{_esc(s.label)}</title></path>')
        body += marks
    return _svg(WIDTH, height, title, body)


def reliability_diagram(bins: list[dict[str, float | None]], *, title: str) -> str:
    """Accuracy per confidence bin against the diagonal of perfect calibration, with a strip of
    the bins' counts under the x axis to show where the predictions are."""
    kept = []
    for b in bins:
        lo, hi, n, acc = _fin(b.get("low")), _fin(b.get("high")), _fin(b.get("count")) or 0.0, _fin(b.get("accuracy"))
        if lo is not None and hi is not None and n > 0 and acc is not None:
            kept.append((lo, hi, n, _fin(b.get("confidence")), acc))
    if not kept:
        return ""
    width, top, x0, side = 420, 40.0, 56.0, 340.0
    y1 = top + side
    sx, sy = _Scale(0.0, 1.0, x0, x0 + side), _Scale(0.0, 1.0, y1, top)
    ticks = [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    strip_top, strip_h = y1 + 24, 26.0  # the counts' strip sits between the tick labels and the axis name
    body = _y_axis(sy, ticks, x0, x0 + side, "accuracy")
    body += _x_axis(sx, ticks, top, y1, "confidence", name_dy=strip_top + strip_h + 20 - y1)
    body.append(_line(sx(0), sy(0), sx(1), sy(1), SOFT_TEXT, cls="reference", dash=True))
    body.append(_text(x0 - 8, strip_top + strip_h - 4, "n", anchor="end", fill=SOFT_TEXT))
    most = max(n for _, _, n, _, _ in kept)
    for lo, hi, n, conf, acc in kept:
        left, right = sx(_clamp01(lo)) + 0.5, sx(_clamp01(hi)) - 0.5  # a hairline gap between bars
        tip = f"[{_n(lo)}, {_n(hi)}): n={n:g}, accuracy {_n(acc)}"
        tip += f", confidence {_n(conf)}" if conf is not None else ""
        body.append(_rect(left, sy(_clamp01(acc)), right - left, sy(0) - sy(_clamp01(acc)), ACCENT, "bar", tip,
                          f' fill-opacity="0.35" stroke="{ACCENT}" stroke-width="1"'))
        h = strip_h * n / most
        body.append(_rect(left, strip_top + strip_h - h, right - left, h, MUTED, "count", tip))
        if conf is not None:
            body.append(_circle(sx(_clamp01(conf)), sy(_clamp01(acc)), 3, ACCENT, "marker", tip))
    return _svg(width, strip_top + strip_h + 32, title, body)


def grouped_bars(groups: list[Bars], *, title: str, axis: str, reference: float | None = 0.0) -> str:
    """Horizontal bars from 0, one group per model and one colour per series, with whiskers
    where bounds are given; a dashed line at `reference` when it is not 0 (0 is always drawn)."""
    names = list(dict.fromkeys(k for g in groups for k in g.values))
    cells = [(gi, si, v, _fin((g.lows or {}).get(name)), _fin((g.highs or {}).get(name)))
             for gi, g in enumerate(groups) for si, name in enumerate(names)
             if (v := _fin(g.values.get(name))) is not None]
    if not cells:
        return ""
    colours = {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(names)}
    legend, lx, ly = [], 12.0, 48.0
    for name in names:
        w = len(_short(name, 24)) * CHAR_PX + 34
        if lx + w > WIDTH - 12 and lx > 12:  # wrap the legend rather than run off the chart
            lx, ly = 12.0, ly + 20
        legend.append(_legend_item(lx, ly, name, colours[name]))
        lx += w
    ref = _fin(reference)
    ticks = nice_ticks(*_span([0.0, ref] + [x for _, _, v, lo, hi in cells for x in (v, lo, hi)]))
    band = len(names) * 16 + 14
    top, x0 = ly + 18, _label_margin(g.label for g in groups)
    right = max(56.0, max(len(_n(v)) for _, _, v, _, _ in cells) * CHAR_PX + 20)
    x1, y_end = WIDTH - right, top + band * len(groups)
    sx = _Scale(ticks[0], ticks[-1], x0, x1)
    body = legend + _x_axis(sx, ticks, top, y_end, axis)
    body += [_label(x0 - 10, top + band * (i + 0.5) + 4, g.label) for i, g in enumerate(groups)]
    for gi, si, v, lo, hi in cells:
        name, y = names[si], top + band * gi + 7 + 16 * si
        tip = f"{groups[gi].label} — {name}: {_ci(v, lo, hi)}"
        body.append(_rect(min(sx(0), sx(v)), y, abs(sx(v) - sx(0)), 12, colours[name], "bar", tip))
        if lo is not None and hi is not None:
            body += _hbar(sx(min(lo, hi)), sx(max(lo, hi)), y + 6, TEXT, (True, True), tip)
        body.append(_text(x1 + 10, y + 10, _n(v), cls="value", size=11))
    body.append(_line(sx(0), top, sx(0), y_end, SOFT_TEXT, cls="zero"))
    if ref is not None and ref != 0:
        body.append(_line(sx(ref), top, sx(ref), y_end, SOFT_TEXT, cls="reference", dash=True))
    return _svg(WIDTH, y_end + 50, title, body)
