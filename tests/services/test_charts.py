"""Inline SVG charts: scaled lines, gaps, ticks, escaping, and an empty range said so."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from aglidein.services.charts import ChartSeries, line_chart, nice_ceiling, time_ticks

SVG = "{http://www.w3.org/2000/svg}"
T0 = 1_800_000_000.0


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # well-formed XML, or this raises


def test_lines_are_scaled_into_the_plot_and_break_at_gaps() -> None:
    idle = ChartSeries("idle", "#1f77b4", [(T0, 0), (T0 + 60, 10), (T0 + 120, 5), (T0 + 600, 7)])
    running = ChartSeries("running", "#2ca02c", [(T0 + 60, 3), (T0 + 120, 4)])
    svg = parse(line_chart("glideins", [idle, running], T0, T0 + 600, gap=120, width=600))
    assert svg.get("width") == "600"
    lines = svg.findall(f"{SVG}polyline")
    assert [p.get("stroke") for p in lines] == ["#1f77b4", "#2ca02c"]
    points = [tuple(map(float, xy.split(","))) for xy in (lines[0].get("points") or "").split()]
    assert len(points) == 3  # the fourth point is 480 s after the third: its own dot
    xs = [p[0] for p in points]
    assert xs == sorted(xs)
    assert points[0][0] == pytest.approx(52.0)  # the left edge of the plot
    ys = [p[1] for p in points]
    assert min(ys) == pytest.approx(26.0)  # 10 is the top of a 0..10 axis
    dots = svg.findall(f"{SVG}circle")
    assert len(dots) == 1
    assert dots[0].get("fill") == "#1f77b4"
    labels = [t.text for t in svg.iter(f"{SVG}text")]
    assert "glideins" in labels
    assert {"0", "5", "10", "idle", "running"} <= set(labels)
    assert svg.find(f"{SVG}text[@class='no-data']") is None


def test_labels_are_escaped_and_colours_checked() -> None:
    evil = ChartSeries('<script>alert("x")</script>', "#000000", [(T0, 1), (T0 + 60, 2)])
    svg = line_chart('a <b> & "c"', [evil], T0, T0 + 60)
    assert "<script>" not in svg
    assert "&lt;script&gt;" in svg
    parse(svg)
    with pytest.raises(ValueError, match="not #rrggbb"):
        ChartSeries("x", "red;stroke:url(evil)", [])


def test_an_empty_range_draws_axes_and_says_there_is_no_data() -> None:
    svg = parse(
        line_chart("exits", [ChartSeries("ok", "#2ca02c", [(T0 - 7200, 3)])], T0, T0 + 3600)
    )
    assert svg.findall(f"{SVG}polyline") == []
    note = svg.find(f"{SVG}text[@class='no-data']")
    assert note is not None
    assert note.text == "no data in this range"


def test_nice_ceilings_and_round_time_ticks() -> None:
    assert [nice_ceiling(v) for v in (0, 0.3, 1, 3, 7, 11, 450, 1001)] == [
        1.0,
        0.5,
        1.0,
        5.0,
        10.0,
        20.0,
        500.0,
        2000.0,
    ]
    hour = time_ticks(T0 + 10, T0 + 3610)
    assert 2 <= len(hour) <= 8
    assert all(re.fullmatch(r"\d\d:\d\d", label) for _, label in hour)
    assert all(t % 600 == 0 for t, _ in hour)
    week = time_ticks(T0, T0 + 7 * 86400)
    assert all(re.fullmatch(r"\d\d-\d\d", label) for _, label in week)
    assert len(week) <= 8
