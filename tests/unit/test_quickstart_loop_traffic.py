"""The quickstart loop's replayed traffic and the loop sections it writes: pure logic, on the
quickstart's real data (scikit-learn's bundled breast-cancer table)."""

from __future__ import annotations

from pathlib import Path

import pytest

from loopml.cli.quickstart_loop_config import (
    DRIFT_SHARE,
    LOOP_PIPELINE,
    MIN_ACCURACY,
    WINDOW_MS,
    loop_sections,
    write_loop_config,
)
from loopml.cli.quickstart_loop_replay import fits_in_window
from loopml.cli.quickstart_loop_traffic import (
    CONCAVE_POINTS,
    NEW_PROTOCOL_THRESHOLD,
    SCANNER_FACTOR,
    SIZE_FEATURES,
    new_protocol_label,
    scanned,
    traffic_phases,
)
from loopml.core.errors import InvalidInputError

Data = tuple[list[str], list[tuple[float, ...]], list[int]]


@pytest.fixture(scope="module")
def data() -> Data:
    from sklearn.datasets import load_breast_cancer  # type: ignore[import-untyped]

    bunch = load_breast_cancer()
    header = [str(name).replace(" ", "_") for name in bunch.feature_names]
    rows = [tuple(float(v) for v in row) for row in bunch.data]
    return header, rows, [int(label) for label in bunch.target]


def test_the_phases_come_in_order_with_a_label_for_every_row(data: Data) -> None:
    header, rows, labels = data
    phases = traffic_phases(header, rows, labels, seed=0, sampled=50)
    assert [p.name for p in phases] == ["normal", "drift", "recovered", "worse"]
    assert [len(p.rows) for p in phases] == [50, len(rows), 50, 50]
    assert all(len(p.rows) == len(p.labels) for p in phases)
    assert all(len(row) == len(header) for p in phases for row in p.rows)


def test_normal_traffic_is_the_data_as_it_was_with_its_true_labels(data: Data) -> None:
    header, rows, labels = data
    truth = dict(zip(rows, labels, strict=True))
    normal = traffic_phases(header, rows, labels, seed=3, sampled=80)[0]
    assert all(truth[row] == label for row, label in zip(normal.rows, normal.labels, strict=True))


def test_the_new_scanner_scales_only_the_size_columns(data: Data) -> None:
    header, rows, labels = data
    drift = traffic_phases(header, rows, labels, seed=0)[1]
    sizes = [header.index(name) for name in SIZE_FEATURES]
    assert len(sizes) == 9 and len(header) == 30  # the drifted share is 0.3
    for before, after in zip(rows, drift.rows, strict=True):
        for i, (old, new) in enumerate(zip(before, after, strict=True)):
            assert new == pytest.approx(old * SCANNER_FACTOR if i in sizes else old)


def test_the_new_protocol_labels_by_worst_concave_points_only(data: Data) -> None:
    header, rows, labels = data
    drift = traffic_phases(header, rows, labels, seed=0)[1]
    column = header.index(CONCAVE_POINTS)
    expected = [0 if row[column] >= NEW_PROTOCOL_THRESHOLD else 1 for row in rows]
    assert list(drift.labels) == expected
    assert new_protocol_label(header, scanned(header, rows[0])) == expected[0]
    changed = sum(a != b for a, b in zip(expected, labels, strict=True)) / len(labels)
    assert 0.1 < changed < 0.4  # the relationship changed, for a real share of the cases


def test_the_same_seed_replays_the_same_traffic_and_another_does_not(data: Data) -> None:
    header, rows, labels = data
    first = traffic_phases(header, rows, labels, seed=1)
    again = traffic_phases(header, rows, labels, seed=1)
    other = traffic_phases(header, rows, labels, seed=2)
    assert first == again
    assert first[0].rows != other[0].rows


def test_rows_without_the_quickstart_columns_are_refused(data: Data) -> None:
    header, rows, labels = data
    with pytest.raises(InvalidInputError, match="no column 'mean_radius'"):
        traffic_phases(["a", "b"], [(1.0, 2.0)], [1])
    with pytest.raises(InvalidInputError, match="3 rows but 2 labels"):
        traffic_phases(header, rows[:3], labels[:2])


def test_a_phase_is_started_in_the_next_window_when_this_one_ends_too_soon() -> None:
    start = 1_000 * WINDOW_MS
    assert fits_in_window(15.0, at_ms=start + 1_000) == 0
    assert fits_in_window(15.0, at_ms=start + WINDOW_MS - 5_000) == 5_100


def test_the_loop_sections_are_a_valid_policy_and_alert_rules(tmp_path: Path) -> None:
    import yaml

    from loopml.cli.quickstart import POLICY
    from loopml.loop.alert_rules import read_alert_rules
    from loopml.loop.policy import PromotionMode, load_loop_policy

    (tmp_path / "gates.yaml").write_text(POLICY, encoding="utf-8")
    (tmp_path / "loopml.yaml").write_text(
        "pipelines:\n  training: quickstart_pipeline:training\n  retraining: my_own:pipeline\n",
        encoding="utf-8",
    )
    write_loop_config(tmp_path, model="breast-cancer", alias="champion", dataset="breast_cancer")
    written = yaml.safe_load((tmp_path / "loopml.yaml").read_text(encoding="utf-8"))
    assert written["pipelines"]["training"] == "quickstart_pipeline:training"  # kept
    assert written["pipelines"][LOOP_PIPELINE] == "my_own:pipeline"  # the user's, kept
    policy = load_loop_policy(tmp_path).for_model("breast-cancer", "champion")
    assert policy is not None and policy.pipeline == LOOP_PIPELINE
    assert policy.promotion is PromotionMode.AUTO and policy.rollback_guard is not None
    assert policy.window_lengths() == {WINDOW_MS}
    assert policy.drift is not None and policy.drift.drift_share == DRIFT_SHARE
    assert policy.decay is not None and policy.decay.below == MIN_ACCURACY
    rules = {rule.name for rule in read_alert_rules(tmp_path)}
    assert rules == set(loop_sections("breast-cancer", "champion", "breast_cancer")["alerts"])

    write_loop_config(tmp_path, model="breast-cancer", alias="champion", dataset="breast_cancer")
    again = yaml.safe_load((tmp_path / "loopml.yaml").read_text(encoding="utf-8"))
    assert len(again["retraining"]) == 1  # written once, however often the loop runs
