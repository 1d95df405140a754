"""The site's SVG charts: well-formed, inert with hostile labels, and true to their numbers."""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from mmbench.metrics.calibration import reliability
from mmbench.report.site.charts import (
    ACCENT,
    Bars,
    Interval,
    Point,
    Series,
    dot_chart,
    grouped_bars,
    line_chart,
    nice_ticks,
    reliability_diagram,
    scatter,
)

NS = "{http://www.w3.org/2000/svg}"
NAN = float("nan")
EVIL_LABEL = "<img src=x onerror=alert(1)>"
EVIL_TITLE = '"><script>alert(1)</script>'
COORDS = ("x", "y", "cx", "cy", "r", "x1", "y1", "x2", "y2", "width", "height")


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == f"{NS}svg"
    return root


def marks(root: ET.Element, cls: str, tag: str | None = None) -> list[ET.Element]:
    """Elements whose class list holds `cls` (and whose tag is `tag`), in document order."""
    return [e for e in root.iter() if cls in (e.get("class") or "").split() and (tag is None or e.tag == NS + tag)]


def tip(e: ET.Element) -> str:
    t = e.find(f"{NS}title")
    assert t is not None and t.text is not None
    return t.text


def num(e: ET.Element, attr: str) -> float:
    value = e.get(attr)
    assert value is not None, f"{e.tag} has no {attr}"
    return float(value)


def texts(root: ET.Element) -> list[str]:
    return [e.text for e in root.iter() if e.text]


def bins_of(counts: list[int], accuracies: list[float | None]) -> list[dict[str, float | None]]:
    k = len(counts)
    return [{"low": b / k, "high": (b + 1) / k, "count": c,
             "confidence": (b + 0.5) / k if c else None, "accuracy": a if c else None}
            for b, (c, a) in enumerate(zip(counts, accuracies, strict=True))]


def charts(label: str = "concat-fusion", title: str = "accuracy") -> dict[str, str]:
    """One chart of each kind with `label` as a model/series name and `title` in every other string."""
    return {
        "dot": dot_chart([Interval(label, 0.829, 0.720, 0.938, True), Interval("late", 0.61, NAN, 0.7),
                          Interval("broken", NAN, 0.1, 0.2)], title=title, axis=title, reference=0.5),
        "scatter": scatter([Point(label, 10, 0.7, True), Point("b", 100, 0.8, True), Point("c", 50, NAN),
                            Point("d", 30, 0.6)], title=title, x_axis=title, y_axis=title, log_x=True),
        "line": line_chart([Series(label, [0, 1, 2, 3], [1.0, 0.9, None, NAN], [1.0, 0.8, None, None],
                                   [1.0, 1.0, None, None]), Series("late", [0, 1, 2, 3], [1.0, 0.95, 0.9, 0.7])],
                           title=title, x_axis=title, y_axis=title, reference=1.0),
        "reliability": reliability_diagram(bins_of([0, 3, 0, 10, 40], [None, 0.2, None, 0.7, 0.95]), title=title),
        "bars": grouped_bars([Bars(label, {title: 0.2, "texts": -0.05}, {title: 0.1, "texts": NAN},
                                   {title: 0.3, "texts": None}), Bars("x", {title: None, "texts": 0.1})],
                             title=title, axis=title, reference=0.1),
    }


@pytest.mark.parametrize("kind", list(charts()))
def test_every_chart_is_a_standalone_scalable_svg(kind: str) -> None:
    root = parse(charts()[kind])
    assert root.get("role") == "img" and root.get("aria-label") == "accuracy"
    assert root.get("width") == "100%" and re.fullmatch(r"0 0 \d+ \d+", root.get("viewBox") or "")
    assert f"max-width:{root.get('viewBox', '').split()[2]}px" in (root.get("style") or "")
    first = root.find(f"{NS}title")
    assert first is not None and first.text == "accuracy"


@pytest.mark.parametrize("kind", list(charts()))
def test_coordinates_are_finite_with_at_most_one_decimal(kind: str) -> None:
    svg = charts()[kind]
    assert "nan" not in svg.lower() and "inf" not in svg.lower()
    one_decimal = re.compile(r"-?\d+(\.\d)?")
    for e in parse(svg).iter():
        for attr in COORDS if e.tag != f"{NS}svg" else ():  # the root's width is "100%"
            if e.get(attr) is not None:
                assert one_decimal.fullmatch(e.get(attr) or ""), (e.tag, attr, e.get(attr))
        for number in re.findall(r"[-\d.]+", e.get("d") or ""):
            assert one_decimal.fullmatch(number), (e.tag, e.get("d"))


@pytest.mark.parametrize("kind", list(charts()))
def test_hostile_labels_and_titles_stay_text(kind: str) -> None:
    svg = charts(EVIL_LABEL, EVIL_TITLE)[kind]
    assert "<img" not in svg and "<script" not in svg
    root = parse(svg)
    for e in root.iter():
        assert not e.tag.lower().endswith(("img", "script")), e.tag
        assert not any(a.lower().startswith("on") for a in e.attrib), e.attrib
    assert kind == "reliability" or EVIL_LABEL in texts(root)  # a reliability diagram names no model
    assert root.get("aria-label") == EVIL_TITLE and EVIL_TITLE in texts(root)


@pytest.mark.parametrize("kind", list(charts()))
def test_charts_are_deterministic(kind: str) -> None:
    assert charts()[kind] == charts()[kind]


def test_empty_inputs_give_no_chart() -> None:
    assert dot_chart([], title="t", axis="a") == ""
    assert dot_chart([Interval("a", NAN), Interval("b", math.inf)], title="t", axis="a") == ""
    assert scatter([], title="t", x_axis="x", y_axis="y") == ""
    assert scatter([Point("a", 0.0, 0.5), Point("b", -1, 0.5)], title="t", x_axis="x", y_axis="y", log_x=True) == ""
    assert line_chart([], title="t", x_axis="x", y_axis="y") == ""
    assert line_chart([Series("a", [0, 1], [None, NAN])], title="t", x_axis="x", y_axis="y") == ""
    assert reliability_diagram(bins_of([0] * 15, [None] * 15), title="t") == ""
    assert reliability_diagram([], title="t") == ""
    assert grouped_bars([], title="t", axis="a") == ""
    assert grouped_bars([Bars("m", {"s": None, "r": NAN})], title="t", axis="a") == ""


# nice_ticks


def _check_ticks(lo: float, hi: float) -> list[float]:
    ticks = nice_ticks(lo, hi)
    assert 3 <= len(ticks) <= 7, ticks
    step = (ticks[-1] - ticks[0]) / (len(ticks) - 1)
    tol = 1e-9 * max(abs(lo), abs(hi), step)
    assert ticks[0] <= min(lo, hi) + tol and ticks[-1] >= max(lo, hi) - tol
    for a, b in zip(ticks, ticks[1:], strict=False):
        assert b - a == pytest.approx(step, rel=1e-6)
    mantissa = step / 10 ** math.floor(math.log10(step) + 1e-6)  # 0.0999999 is a step of 0.1
    assert any(mantissa == pytest.approx(m) for m in (1, 2, 2.5, 5)), step
    return ticks


@pytest.mark.parametrize(("lo", "hi"), [(0, 1), (0.3, 0.7), (0.72, 0.938), (-5, -1), (-3, 7), (1234, 98765),
                                        (1e-6, 3e-6), (0, 0.001), (7, 2), (-0.05, 0.3)])
def test_nice_ticks_cover_the_range_at_a_nice_even_step(lo: float, hi: float) -> None:
    _check_ticks(lo, hi)


def test_nice_ticks_of_familiar_ranges() -> None:
    assert nice_ticks(0, 1) == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert nice_ticks(0, 3) == [0.0, 1.0, 2.0, 3.0]
    assert nice_ticks(0.3, 0.7) == [0.3, 0.4, 0.5, 0.6, 0.7]  # no 0.30000000000000004
    assert all(t < 0 for t in nice_ticks(-5, -1))


@pytest.mark.parametrize("v", [0.0, 0.5, -2.0, 1e6])
def test_nice_ticks_of_a_single_value_surround_it(v: float) -> None:
    ticks = _check_ticks(v, v)
    assert ticks[0] < v < ticks[-1]


def test_nice_ticks_refuse_non_finite_bounds() -> None:
    with pytest.raises(ValueError):
        nice_ticks(NAN, 1.0)
    with pytest.raises(ValueError):
        nice_ticks(0.0, math.inf)


@settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@example(lo=0.0, width=5e-324)
@given(lo=st.floats(-1e6, 1e6), width=st.floats(0, 1e6))
def test_nice_ticks_property(lo: float, width: float) -> None:
    _check_ticks(lo, lo + width)


# dot_chart


def test_dot_chart_draws_a_dot_per_finite_item_in_order() -> None:
    items = [Interval("a", 0.9, 0.8, 0.95, True), Interval("b", NAN, 0.1, 0.2), Interval("c", 0.5),
             Interval("d", 0.7, None, 0.75), Interval("e", None)]  # type: ignore[arg-type]
    root = parse(dot_chart(items, title="t", axis="accuracy"))
    dots = marks(root, "dot", "circle")
    assert [tip(d).split(":")[0] for d in dots] == ["a", "c", "d"]
    assert [num(d, "cy") for d in dots] == sorted(num(d, "cy") for d in dots)  # top to bottom, in order
    cx = {tip(d).split(":")[0]: num(d, "cx") for d in dots}
    assert cx["c"] < cx["d"] < cx["a"]  # larger value, further right
    assert [d for d in dots if "accent" in (d.get("class") or "")] == dots[:1]
    assert tip(dots[0]) == "a: 0.900 [0.800, 0.950]"
    assert "b" not in [e.text for e in root.iter(f"{NS}text")]


def test_dot_chart_whiskers_span_low_to_high_around_the_dot() -> None:
    items = [Interval("a", 0.829, 0.720, 0.938), Interval("b", -0.2, -0.5, 0.1)]
    root = parse(dot_chart(items, title="t", axis="delta", reference=0.0))
    dots = {tip(d).split(":")[0]: d for d in marks(root, "dot")}
    for whisker in marks(root, "ci", "line"):
        dot = dots[tip(whisker).split(":")[0]]
        assert num(whisker, "x1") < num(dot, "cx") < num(whisker, "x2")
        assert num(whisker, "y1") == num(whisker, "y2") == num(dot, "cy")
    assert len(marks(root, "ci")) == 2
    a, b = dots["a"], dots["b"]
    (ref,) = marks(root, "reference", "line")
    assert num(b, "cx") < num(ref, "x1") < num(a, "cx")  # 0 lies between -0.2 and 0.829
    assert "0.829" in texts(root) and "-0.200" in texts(root)


def test_dot_chart_truncates_long_names_but_keeps_them_whole_in_a_tooltip() -> None:
    long = "a-fusion-model-with-a-name-much-longer-than-any-column-should-hold"
    root = parse(dot_chart([Interval(long, 0.5), Interval("short", 0.6)], title="t", axis="a"))
    groups = {tip(g): g for g in marks(root, "label", "g")}
    shown = groups[long].find(f"{NS}text")
    assert shown is not None and shown.text is not None
    assert shown.text.endswith("…") and len(shown.text) <= 38 and long.startswith(shown.text[:-1])
    short = groups["short"].find(f"{NS}text")
    assert short is not None and short.text == "short"


def test_dot_chart_grows_with_its_rows() -> None:
    def height(n: int) -> float:
        return float((parse(dot_chart([Interval(f"m{i}", i / 10) for i in range(n)], title="t", axis="a"))
                      .get("viewBox") or "").split()[3])
    assert height(3) < height(10) < height(30)


# scatter


def test_scatter_colours_highlighted_points_and_joins_them_in_x_order() -> None:
    pts = [Point("big", 900, 0.9, True), Point("small", 20, 0.6, True), Point("mid", 200, 0.8, True),
           Point("dominated", 500, 0.7), Point("broken", NAN, 0.5)]
    root = parse(scatter(pts, title="t", x_axis="params", y_axis="accuracy"))
    points = marks(root, "point", "circle")
    assert len(points) == 4
    accent = {tip(p).split(":")[0] for p in marks(root, "accent")}
    assert accent == {"big", "small", "mid"}
    assert all(p.get("fill") == ACCENT for p in marks(root, "accent"))
    assert {tip(p).split(":")[0] for p in marks(root, "muted")} == {"dominated"}
    assert {tip(g) for g in marks(root, "label")} == {"big", "small", "mid", "dominated"}
    (front,) = marks(root, "front", "path")
    xs = [float(x) for x in re.findall(r"[ML](-?[\d.]+),", front.get("d") or "")]
    assert xs == sorted(xs) and len(xs) == 5  # a staircase: start, then two vertices per step
    assert not marks(parse(scatter(pts, title="t", x_axis="x", y_axis="y", connect_highlighted=False)), "front")


def test_scatter_log_axis_spaces_decades_evenly_and_skips_non_positive_x() -> None:
    pts = [Point("a", 10, 0.5), Point("b", 100, 0.6), Point("c", 1000, 0.7, True), Point("zero", 0, 0.9),
           Point("neg", -5, 0.9)]
    root = parse(scatter(pts, title="t", x_axis="params", y_axis="accuracy", log_x=True))
    cx = {tip(p).split(":")[0]: num(p, "cx") for p in marks(root, "point")}
    assert set(cx) == {"a", "b", "c"}
    assert cx["a"] < cx["b"] < cx["c"]
    assert cx["b"] - cx["a"] == pytest.approx(cx["c"] - cx["b"], abs=0.2)
    assert "1k" in texts(root)  # a tick label at a power of ten, as costs are written


# line_chart


def test_line_chart_draws_one_path_per_series_broken_at_missing_points() -> None:
    xs = [0.0, 1.0, 2.0, 3.0]
    series = [Series("concat", xs, [1.0, 0.9, None, 0.6]), Series("late", xs, [1.0, 0.95, 0.9, 0.8]),
              Series("gaps", xs, [1.0, NAN, 0.7, None])]
    root = parse(line_chart(series, title="t", x_axis="severity", y_axis="relative", x_ticks=[0, 1, 2, 3],
                            reference=1.0))
    paths = marks(root, "series", "path")
    assert [tip(p) for p in paths] == ["concat", "late", "gaps"]
    assert [(p.get("d") or "").count("M") for p in paths] == [2, 1, 2]
    assert len({p.get("stroke") for p in paths}) == 3
    assert len(marks(root, "marker", "circle")) == 3 + 4 + 2
    legend = marks(root, "legend-item", "g")
    assert [tip(g) for g in legend] == ["concat", "late", "gaps"]
    for g, label in zip(legend, ["concat", "late", "gaps"], strict=True):
        assert label in [e.text for e in g.iter(f"{NS}text")]
    (ref,) = marks(root, "reference", "line")
    at_one = [num(m, "cy") for m in marks(root, "marker") if tip(m).endswith(": 1.000")]
    assert len(at_one) == 3 and all(cy == num(ref, "y1") for cy in at_one)


def test_line_chart_error_bars_bracket_their_points_and_y_range_only_widens() -> None:
    s = Series("m", [0, 1], [1.0, 1.4], lows=[None, 1.2], highs=[None, 1.6])
    svg = line_chart([s], title="t", x_axis="severity", y_axis="relative", y_range=(0.0, 1.1))
    root = parse(svg)
    (bar,) = marks(root, "ci", "line")
    marker = [m for m in marks(root, "marker") if "1.400" in tip(m)][0]
    assert num(bar, "x1") == num(bar, "x2") == num(marker, "cx")
    assert num(bar, "y2") < num(marker, "cy") < num(bar, "y1")  # high is drawn above low
    height = float((root.get("viewBox") or "").split()[3])
    assert all(0 <= num(e, "cy") <= height for e in marks(root, "marker"))
    assert "0.0" in texts(root)  # y_range's floor is kept


# reliability_diagram


def test_reliability_diagram_of_real_bins_has_a_bar_per_non_empty_bin() -> None:
    rng = np.random.default_rng(0)
    probs = rng.dirichlet([0.3, 0.3, 0.3], size=400)
    labels = rng.integers(0, 3, size=400)
    bins = reliability(labels, probs)
    root = parse(reliability_diagram(bins, title="calibration"))
    full = [b for b in bins if b["count"]]
    assert len(marks(root, "bar", "rect")) == len(marks(root, "count", "rect")) == len(full) < len(bins)
    assert "confidence" in texts(root) and "accuracy" in texts(root)
    assert len(marks(root, "reference", "line")) == 1  # the diagonal


def test_reliability_bars_follow_accuracy_and_the_strip_follows_counts() -> None:
    root = parse(reliability_diagram(bins_of([5, 0, 20, 10, 40], [0.1, None, 0.8, 0.4, 1.0]), title="t"))
    bars, counts = marks(root, "bar"), marks(root, "count")
    xs = [num(b, "x") for b in bars]
    assert xs == sorted(xs)
    heights = [num(b, "height") for b in bars]
    for h, acc in zip(heights, [0.1, 0.8, 0.4, 1.0], strict=True):
        assert h == pytest.approx(heights[-1] * acc, abs=0.2)
    bottoms = {round(num(b, "y") + num(b, "height"), 1) for b in bars}
    assert len(bottoms) == 1  # every bar stands on accuracy 0
    strip = [num(c, "height") for c in counts]
    for h, n in zip(strip, [5, 20, 10, 40], strict=True):
        assert h == pytest.approx(strip[-1] * n / 40, abs=0.2)


# grouped_bars


def test_grouped_bars_grow_from_zero_in_the_sign_of_their_value() -> None:
    groups = [Bars("concat", {"permute-images": 0.2, "permute-texts": -0.1},
                   {"permute-images": 0.15, "permute-texts": -0.2}, {"permute-images": 0.25, "permute-texts": 0.0}),
              Bars("text-only", {"permute-images": 0.4, "permute-texts": None})]
    root = parse(grouped_bars(groups, title="reliance", axis="accuracy drop"))
    (zero,) = marks(root, "zero", "line")
    zx = num(zero, "x1")
    bars = {tip(b).split(":")[0]: b for b in marks(root, "bar", "rect")}
    assert set(bars) == {"concat — permute-images", "concat — permute-texts", "text-only — permute-images"}
    neg, pos, big = bars["concat — permute-texts"], bars["concat — permute-images"], bars["text-only — permute-images"]
    assert num(neg, "x") + num(neg, "width") == pytest.approx(zx, abs=0.1) and num(neg, "x") < zx
    assert num(pos, "x") == pytest.approx(zx, abs=0.1) and num(big, "x") == pytest.approx(zx, abs=0.1)
    assert num(big, "width") == pytest.approx(2 * num(pos, "width"), abs=0.2)
    assert num(neg, "width") == pytest.approx(num(pos, "width") / 2, abs=0.2)
    assert neg.get("fill") != pos.get("fill") and pos.get("fill") == big.get("fill")
    assert len(marks(root, "ci")) == 2
    assert [tip(g) for g in marks(root, "legend-item")] == ["permute-images", "permute-texts"]
    assert not marks(root, "reference")  # the default reference is the zero line itself


CHARTS: list[Callable[[], str]] = [
    lambda: dot_chart([Interval("x", 1e-9), Interval("y", 1e9)], title="t", axis="a"),
    lambda: scatter([Point("x", 1e-3, 5), Point("y", 1e12, 5)], title="t", x_axis="x", y_axis="y", log_x=True),
    lambda: line_chart([Series("x", [5], [2.0])], title="t", x_axis="x", y_axis="y"),
    lambda: grouped_bars([Bars("m", {"s": 0.0})], title="t", axis="a"),
]


@pytest.mark.parametrize("make", CHARTS)
def test_degenerate_ranges_still_draw_valid_charts(make: Callable[[], str]) -> None:
    svg = make()
    parse(svg)
    assert svg and "nan" not in svg.lower() and "inf" not in svg.lower()
