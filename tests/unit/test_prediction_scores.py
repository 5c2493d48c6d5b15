"""Scores from the one model call that gives the labels (``serving.scoring``), kept in the
prediction log's ``score`` column (``log_records``), and a window's signals by the names the
loop watches (``window_signals``)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from sklearn.datasets import load_breast_cancer, load_iris  # type: ignore[import-untyped]
from sklearn.ensemble import (  # type: ignore[import-untyped]
    GradientBoostingClassifier,
    HistGradientBoostingClassifier,
    RandomForestClassifier,
)
from sklearn.linear_model import LinearRegression, LogisticRegression  # type: ignore[import-untyped]
from sklearn.model_selection import FixedThresholdClassifier  # type: ignore[import-untyped]
from sklearn.naive_bayes import GaussianNB  # type: ignore[import-untyped]
from sklearn.neighbors import KNeighborsClassifier  # type: ignore[import-untyped]
from sklearn.pipeline import make_pipeline  # type: ignore[import-untyped]
from sklearn.preprocessing import StandardScaler  # type: ignore[import-untyped]
from sklearn.svm import SVC  # type: ignore[import-untyped]

from loopml.loop.signals import check_signal
from loopml.monitoring.log_records import PredictionEntry, to_table
from loopml.monitoring.windows import Window
from loopml.serving.rows import Rows
from loopml.serving.scoring import Scorer

CLASSIFIERS = [
    lambda: make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)),
    lambda: RandomForestClassifier(n_estimators=15, random_state=0),
    lambda: GradientBoostingClassifier(n_estimators=10, random_state=0),
    lambda: HistGradientBoostingClassifier(max_iter=10, random_state=0),
    lambda: GaussianNB(),
    lambda: KNeighborsClassifier(n_neighbors=4),
]


@pytest.mark.parametrize("dataset", [load_breast_cancer, load_iris])
@pytest.mark.parametrize("make", CLASSIFIERS)
def test_labels_from_the_probabilities_are_exactly_predicts(make: Any, dataset: Any) -> None:
    x, y = dataset(return_X_y=True)
    model = make().fit(x[::2], y[::2])
    scorer = Scorer.for_predictor(model, "native")
    labels, scores = scorer.predict(x[1::2])
    assert scorer.scores and labels.tolist() == model.predict(x[1::2]).tolist()
    probabilities = model.predict_proba(x[1::2])
    expected = probabilities[:, 1] if probabilities.shape[1] == 2 else probabilities
    np.testing.assert_array_equal(scores, expected)


@pytest.mark.parametrize(
    "model",
    [
        LinearRegression(),
        SVC(),  # no probabilities
        FixedThresholdClassifier(
            make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)), threshold=0.9
        ),
    ],
)
def test_a_model_whose_predict_is_not_the_most_probable_class_logs_no_score(model: Any) -> None:
    x, y = load_breast_cancer(return_X_y=True)
    model.fit(x[:200], y[:200])
    labels, scores = Scorer.for_predictor(model, "native").predict(x[200:260])
    assert scores is None and labels.tolist() == model.predict(x[200:260]).tolist()


@pytest.mark.parametrize("dataset", [load_breast_cancer, load_iris])
def test_an_onnx_classifier_gives_labels_and_scores_from_one_session_run(
    dataset: Any, tmp_path: Path
) -> None:
    from loopml.models.onnx import FILE, OnnxModel, convert_checked

    x, y = dataset(return_X_y=True)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(x, y)
    convert_checked(model, x[:50], tmp_path)
    onnx = OnnxModel(tmp_path / FILE)
    runs: list[int] = []
    session = onnx.session

    def run(*args: Any) -> Any:
        runs.append(1)
        return session.run(*args)

    onnx.session = SimpleNamespace(run=run)
    labels, scores = Scorer.for_predictor(onnx, "onnx").predict(x)
    assert len(runs) == 1 and labels.tolist() == model.predict(x).tolist()
    probabilities = model.predict_proba(x)
    expected = probabilities[:, 1] if probabilities.shape[1] == 2 else probabilities
    np.testing.assert_allclose(scores, expected, atol=1e-4)


def _entry(index: int, scores: Any, rows: int = 2) -> PredictionEntry:
    return PredictionEntry(
        f"p{index}", f"r{index}", 1_000 + index, "m@1", "main", 1.0,
        Rows(np.zeros((rows, 2))), np.zeros(rows, dtype=np.int64), scores,
    )  # fmt: skip


def test_binary_scores_are_a_float_column_and_unscored_rows_are_null() -> None:
    table = to_table([_entry(0, None), _entry(1, np.array([0.25, 0.75]))])
    assert table["score"].type == pa.float64()
    assert table["score"].to_pylist() == [None, None, 0.25, 0.75]


def test_multiclass_scores_are_a_list_per_row() -> None:
    table = to_table([_entry(0, np.array([[0.1, 0.2, 0.7], [1.0, 0.0, 0.0]])), _entry(1, None, 1)])
    assert pa.types.is_fixed_size_list(table["score"].type)
    assert table["score"].to_pylist() == [[0.1, 0.2, 0.7], [1.0, 0.0, 0.0], None]


def test_a_log_without_scores_has_no_score_column() -> None:
    assert "score" not in to_table([_entry(0, None)]).column_names


def test_every_signal_of_a_window_is_one_the_loop_knows() -> None:
    window = Window(0, 60_000, "m@1", rows=10, requests=2)
    window.checks.drift = {"share": 0.5, "features": {"age": {"statistic": 0.2}}}
    window.checks.estimated_performance = {
        "metrics": {"accuracy": {"value": 0.9}, "roc_auc": {"value": 0.95}}
    }
    window.checks.concept_drift = {"decayed": True}
    signals = window.signals()
    assert [name for name in signals if check_signal(name)] == []
    assert signals["estimated_accuracy"] == 0.9 and signals["estimated_roc_auc"] == 0.95
    assert signals["concept_drift"] == 1.0 and signals["feature_drift.age"] == 0.2
    assert signals["accuracy"] is None  # no labels: no data, not zero
