"""The models page's pure helpers: gate results side by side, rollback targets as
``loopml models rollback`` computes them, and the lineage graph laid out in columns."""

from __future__ import annotations

from loopml.core.entities import AliasChange, GateResult
from loopml.dashboard.model_views import gate_matrix, lineage_layout, rollback_targets
from loopml.governance.lineage_graph import LineageGraph

DIGEST = "sha256:" + "0" * 64


def _gate(version: int, at: int, accuracy: float, passed: bool) -> GateResult:
    checks = (
        {"check": "variant", "name": "scored variant", "passed": True, "observed": "native"},
        {"check": "metric", "name": "accuracy", "passed": passed, "observed": accuracy,
         "limit": "≥ 0.8", "detail": ""},
    )  # fmt: skip
    return GateResult(f"{version}{at}", "m", version, passed, checks, {}, DIGEST, at)


def test_each_versions_newest_gate_is_a_column_and_each_check_a_row() -> None:
    results = [_gate(1, 1, 0.5, False), _gate(1, 2, 0.9, True), _gate(2, 3, 0.66, False)]
    matrix = gate_matrix([3, 2, 1], results)
    assert [(c.version, c.passed) for c in matrix.columns] == [(3, None), (2, False), (1, True)]
    [(name, cells)] = matrix.rows  # the variant record is not a check
    assert name == "metric: accuracy"
    assert cells[0] is None
    assert cells[1] is not None and (cells[1].observed, cells[1].passed) == ("0.66", False)
    assert cells[2] is not None and (cells[2].observed, cells[2].limit) == ("0.9", "≥ 0.8")


def _move(alias: str, old: int | None, new: int | None, at: int) -> AliasChange:
    return AliasChange("m", alias, old, new, at)


def test_a_rollback_goes_back_past_moves_already_undone() -> None:
    history = [
        _move("champion", None, 1, 1),
        _move("champion", 1, 2, 2),
        _move("champion", 2, 3, 3),
        _move("champion", 3, 2, 4),  # a rollback: the next one goes back to 1
        _move("staging", None, 4, 5),
    ]
    assert rollback_targets(history) == {"champion": (2, 1)}


def test_the_lineage_layout_puts_data_left_of_the_version_and_deployments_right() -> None:
    graph = LineageGraph("model:m@1")
    graph.add("model:m@1", "model", "m@1")
    graph.add("dataset:d@1", "dataset", "d@1")
    graph.add("run:r", "pipeline", "train (r)")
    graph.add("deployment:x", "deployment", "127.0.0.1:8000", {"state": "live"})
    graph.link("dataset:d@1", "run:r", "read by")
    graph.link("run:r", "model:m@1", "registered")
    graph.link("model:m@1", "deployment:x", "served by")
    layout = lineage_layout(graph)
    x = {node.kind: node.x for node in layout.nodes}
    assert x["dataset"] < x["pipeline"] < x["model"] < x["deployment"]
    assert len(layout.edges) == 3 and layout.left_out == 0
    assert [node.subject for node in layout.nodes if node.kind == "model"] == [True]
    assert layout.tree["Upstream"][0][2].startswith("pipeline train")
    assert layout.width >= x["deployment"] + 200
