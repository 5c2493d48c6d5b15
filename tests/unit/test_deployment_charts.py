"""The deployments page's charts and drift grid (pure: numbers in, coordinates out)."""

from __future__ import annotations

import pytest

from loopml.dashboard.deployment_charts import (
    PAD,
    PLOT_BOTTOM,
    WIDTH,
    bar_chart,
    drift_grid,
    line_chart,
)

HOUR = 3_600_000


def _drift(**features: tuple[float, bool]) -> dict[str, object]:
    return {
        "features": {
            name: {"method": "ks", "statistic": value, "p_value": 0.01, "drifted": drifted}
            for name, (value, drifted) in features.items()
        }
    }


def test_the_drift_grid_puts_the_most_drifted_features_first_and_counts_the_hidden() -> None:
    windows = [
        _drift(a=(0.1, False), b=(0.2, False), c=(0.05, False)),
        None,  # a window drift was not checked in
        _drift(a=(0.9, True), b=(0.3, True), c=(0.5, False)),
        _drift(a=(0.8, True), b=(0.1, False), c=(0.6, False)),
    ]
    grid = drift_grid(windows, max_features=2)
    assert [row.feature for row in grid.rows] == ["a", "b"]
    assert (grid.hidden, grid.tested) == (1, 3)
    first = grid.rows[0]
    assert [cell.css for cell in first.cells] == [
        "drift-no",
        "drift-none",
        "drift-yes",
        "drift-yes",
    ]
    assert first.cells[2].text == "0.9" and "p-value 0.01 (drifted)" in first.cells[2].title
    assert first.drifted_windows == 2


def test_a_line_chart_places_each_window_in_its_slot_and_skips_missing_values() -> None:
    chart = line_chart(
        "latency",
        "Latency",
        [("p50", "series-0", [(0, 2.0), (HOUR, None), (2 * HOUR, 4.0)])],
        (0, 4 * HOUR, HOUR),
        ("start", "end"),
        unit=" ms",
    )
    (series,) = chart.series
    assert len(series.dots) == 2 and chart.top == "4 ms"
    assert series.dots[0].x == PAD + (WIDTH - 2 * PAD) / 8  # the middle of the first quarter
    assert series.dots[1].y < series.dots[0].y < PLOT_BOTTOM  # higher values draw higher
    assert series.dots[1].title == "p50: 4 ms"
    assert not chart.empty


def test_a_bar_per_window_as_high_as_its_share_of_the_busiest() -> None:
    chart = bar_chart(
        "traffic",
        "Requests",
        [(0, 10.0), (HOUR, 30.0)],
        (0, 2 * HOUR, HOUR),
        ("start", "end"),
        what="requests",
    )
    low, high = chart.bars
    assert high.height == pytest.approx(3 * low.height, abs=0.2) and high.title == "30 requests"
    assert chart.top == "30"
    assert line_chart("x", "X", [("", "series-0", [(0, None)])], (0, HOUR, HOUR), ("", "")).empty
