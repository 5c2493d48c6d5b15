"""The dashboard's drawings, computed in Python: the layered layout of a pipeline's DAG and
the bars of a profile's histogram."""

from __future__ import annotations

from loopml.dashboard.bar_chart import histogram_bars
from loopml.dashboard.dag_layout import NODE_HEIGHT, NODE_WIDTH, layered_layout


def test_each_node_is_one_layer_past_its_deepest_predecessor() -> None:
    layout = layered_layout(
        ["load", "clean", "features", "train"],
        [("load", "clean"), ("clean", "features"), ("load", "train"), ("features", "train")],
    )
    layers = {node.id: node.layer for node in layout.nodes}
    assert layers == {"load": 0, "clean": 1, "features": 2, "train": 3}
    assert len(layout.edges) == 4
    right = max(node.x for node in layout.nodes) + NODE_WIDTH
    assert layout.width > right and layout.height > NODE_HEIGHT


def test_a_fan_out_puts_siblings_in_one_layer_without_overlap() -> None:
    layout = layered_layout(["a", "b", "c", "d"], [("a", "b"), ("a", "c"), ("b", "d"), ("c", "d")])
    b, c = (node for node in layout.nodes if node.id in ("b", "c"))
    assert b.layer == c.layer == 1 and b.x == c.x
    assert abs(b.y - c.y) >= NODE_HEIGHT


def test_unknown_nodes_self_loops_and_cycles_still_draw() -> None:
    layout = layered_layout(
        ["a", "b", "c"], [("a", "b"), ("b", "a"), ("c", "c"), ("x", "a"), ("a", "b")]
    )
    assert [node.id for node in layout.nodes] == ["a", "b", "c"]
    assert len(layout.edges) == 1  # a→b once; the edge closing the cycle is left out
    assert layered_layout([], []).nodes == ()


def test_histogram_bars_scale_to_the_tallest_bin_and_keep_small_bins_visible() -> None:
    chart = histogram_bars([0.0, 1.0, 2.0, 3.0], [1000, 1, 0])
    heights = [bar.height for bar in chart.bars]
    assert heights[0] == chart.height and heights[1] >= 1 and heights[2] == 0
    assert chart.bars[1].label == "1 to 2: 1"
    assert all(bar.y + bar.height == chart.height for bar in chart.bars)
    assert "3 bins" in chart.summary
