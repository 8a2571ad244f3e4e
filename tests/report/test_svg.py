"""The SVG plot writer: valid XML, log axes and ticks, marks, NaN/None skipped, degenerate data."""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET

import pytest

from verify.claims import Figure, Mark, Series
from verify.report.svg import distribution_figure, figure_svg, log_ticks, nice_ticks

SVG = "{http://www.w3.org/2000/svg}"


def _parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == SVG + "svg"
    return root


def _texts(root: ET.Element) -> list[str]:
    return ["".join(t.itertext()) for t in root.iter(SVG + "text")]


def _polyline_points(root: ET.Element) -> list[list[tuple[float, float]]]:
    return [[tuple(map(float, p.split(","))) for p in line.get("points").split()]
            for line in root.iter(SVG + "polyline")]


def test_log_log_line_plot_with_marks():
    r = [10.0 ** -k for k in range(1, 9)]
    fig = Figure(title="FD error vs r", series=[Series("central", r, [x * x + 1e-16 / x for x in r])],
                 x_log=True, y_log=True, x_label="r", y_label="error",
                 marks=[Mark(1e-5, "r*"), Mark(1e-6, "floor", "y")])
    root = _parse(figure_svg(fig.to_json()))
    texts = _texts(root)
    assert {"FD error vs r", "r", "error", "r*", "floor", "central"} <= set(texts)
    assert "1e-8" in texts and "0.1" in texts  # log ticks at powers of ten
    dashed = [ln for ln in root.iter(SVG + "line") if ln.get("stroke-dasharray")]
    assert len(dashed) == 2
    (points,) = _polyline_points(root)
    assert len(points) == 8
    # on a log x axis equal ratios are equal pixel steps
    steps = [b[0] - a[0] for a, b in zip(points, points[1:])]
    assert max(steps) - min(steps) < 0.2


def test_nan_and_none_points_are_skipped_and_split_the_line():
    fig = {"kind": "line", "title": "t", "x_log": False, "y_log": True,
           "series": [{"label": "s", "x": [1, 2, 3, 4, 5, 6], "y": [1.0, None, 3.0, 4.0, -1.0, float("nan")]}],
           "marks": [{"axis": "x", "value": None, "label": "gone"}]}
    svg = figure_svg(fig)
    root = _parse(svg)
    lines = _polyline_points(root)
    assert [len(p) for p in lines] == [2]  # (3, 4); 1 alone is a dot; -1 cannot go on a log axis
    assert len(list(root.iter(SVG + "circle"))) == 1
    assert "gone" not in _texts(root)
    assert not re.search(r"\b(nan|inf)\b", svg, re.I)


@pytest.mark.parametrize("series", [[], [Series("empty", [], [])], [Series("one", [2.0], [5.0])],
                                    [Series("flat", [1, 2, 3], [7.0, 7.0, 7.0])]])
def test_degenerate_line_data(series):
    svg = figure_svg(Figure(title="degenerate", series=series).to_json())
    root = _parse(svg)
    assert not re.search(r"\b(nan|inf)\b", svg, re.I)
    if not series or not series[0].x:
        assert "no data" in _texts(root)


def test_histogram_counts_and_ratio_mark():
    values = [0.1, 0.2, 0.2, 0.5, 0.9, 0.95, 0.99]
    fig = distribution_figure({"quantity": "ratio lhs/rhs", "cases": 7, "values": values}, "inequality")
    assert fig is not None and not fig["x_log"]
    root = _parse(figure_svg(fig))
    assert "ratio 1" in _texts(root)
    bars = [r for r in root.iter(SVG + "rect") if r.get("fill-opacity")]
    assert bars  # one rect per non-empty bin; heights proportional to counts
    heights = sorted(float(r.get("height")) for r in bars)
    assert heights[-1] > heights[0] > 0


def test_histogram_log_axis_and_zeros():
    values = [0.0, 0.0, 1e-17, 1e-16, 3e-16, 1e-15, 2e-14]
    fig = distribution_figure({"quantity": "relative error", "cases": 7, "values": values}, "equality")
    assert fig["x_log"] and "2 at or below 0" in fig["caption"]
    root = _parse(figure_svg(fig))
    assert any(t.startswith("1e-1") for t in _texts(root))
    assert "ratio 1" not in _texts(root)


def test_constant_and_empty_histograms():
    root = _parse(figure_svg(Figure(title="c", kind="histogram", series=[Series("c", [2.0] * 5)]).to_json()))
    bars = [r for r in root.iter(SVG + "rect") if r.get("fill-opacity")]
    assert len(bars) == 1
    assert "no data" in _texts(_parse(figure_svg({"kind": "histogram", "title": "e", "series": []})))
    assert distribution_figure({"values": []}, "equality") is None
    assert distribution_figure({"values": [float("nan"), None]}, "equality") is None


def test_labels_are_escaped():
    evil = '</svg><script>alert(1)</script><img src=x onerror="alert(2)">'
    fig = Figure(title=evil, x_label=evil, y_label=evil, series=[Series(evil, [1, 2], [1, 2]), Series("b", [1], [1])],
                 marks=[Mark(1.5, evil)])
    svg = figure_svg(fig.to_json())
    root = _parse(svg)  # still one well-formed svg element
    assert "<script" not in svg and "<img" not in svg
    assert all(el.tag.split("}")[-1] in {"svg", "style", "rect", "text", "line", "polyline", "circle"}
               for el in root.iter())
    assert evil in _texts(root)


def test_tick_helpers():
    assert nice_ticks(0.0, 1.0) == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert nice_ticks(-3.2, 7.9) == [-2.0, 0.0, 2.0, 4.0, 6.0]
    assert nice_ticks(5.0, 5.0) == [5.0]
    assert log_ticks(1e-3, 1e2) == [1e-3, 1e-2, 0.1, 1.0, 10.0, 100.0]
    many = log_ticks(1e-30, 1e10)
    assert 2 <= len(many) <= 9 and all(math.log10(t) == round(math.log10(t)) for t in many)
    few = log_ticks(1.5, 8.0)
    assert few == [2.0, 5.0]
