"""The gate's numpy metrics give scikit-learn's numbers (``sklearn.metrics``, as gates called
it before), on random labels, predictions and probabilities, float64 and float32 (an ONNX
variant's)."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics  # type: ignore[import-untyped]

from loopml.models import gate_metrics

CASES = st.tuples(
    st.integers(0, 2**32 - 1),  # seed
    st.integers(2, 4),  # classes
    st.integers(2, 60),  # rows
    st.booleans(),  # float32 probabilities
    st.booleans(),  # coarse scores (ties)
)


def reference(function: Callable[..., float], *args: Any, **options: Any) -> float:
    """scikit-learn's value; its notes on degenerate input (one label in all) are no error."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return float(function(*args, **options))


def _case(case: tuple[int, int, int, bool, bool]) -> tuple[Any, ...]:
    seed, count, rows, single, coarse = case
    rng = np.random.default_rng(seed)
    classes = list(range(count))
    y = rng.integers(0, count, rows)
    predicted = rng.integers(0, count, rows)
    raw = rng.random((rows, count))
    if coarse:
        raw = np.round(raw, 1) + 0.01
    scores = (raw / raw.sum(axis=1, keepdims=True)).astype(np.float32 if single else np.float64)
    return classes, y, predicted, scores


@settings(max_examples=25, deadline=None)
@given(CASES)
def test_label_metrics_match_scikit_learn(case: tuple[int, int, int, bool, bool]) -> None:
    classes, y, predicted, _ = _case(case)
    assert gate_metrics.accuracy(y, predicted) == pytest.approx(
        metrics.accuracy_score(y, predicted)
    )
    if set(predicted.tolist()) <= set(y.tolist()):
        # scikit-learn warns (an error here) about predicted classes missing from y
        expected = reference(metrics.balanced_accuracy_score, y, predicted)
        assert gate_metrics.balanced_accuracy(y, predicted) == pytest.approx(expected)
    binary = len(classes) == 2
    options: dict[str, Any] = {"pos_label": classes[-1]} if binary else {"average": "macro"}
    for name in gate_metrics.LABEL_SCORES:
        function = getattr(metrics, f"{name}_score")
        expected = reference(function, y, predicted, zero_division=0, **options)
        got = gate_metrics.label_score(name, y, predicted, classes[-1] if binary else None)
        assert got == pytest.approx(expected), name


@settings(max_examples=25, deadline=None)
@given(CASES)
def test_probability_metrics_match_scikit_learn(case: tuple[int, int, int, bool, bool]) -> None:
    classes, y, _, scores = _case(case)
    expected = metrics.log_loss(y, y_proba=scores, labels=classes)
    assert gate_metrics.log_loss(y, scores, classes) == pytest.approx(expected, rel=1e-6)
    present = set(y.tolist())
    if len(classes) == 2:
        auc = metrics.roc_auc_score(y, scores[:, -1]) if len(present) == 2 else None
    elif present == set(classes):
        auc = metrics.roc_auc_score(y, scores, multi_class="ovr", labels=classes)
    else:
        auc = None  # scikit-learn refuses: a class without rows has no one-vs-rest AUC
    got = gate_metrics.roc_auc(y, scores, classes)
    assert got == (None if auc is None else pytest.approx(auc))


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(2, 60), st.booleans())
def test_regression_metrics_match_scikit_learn(seed: int, rows: int, constant: bool) -> None:
    rng = np.random.default_rng(seed)
    y = np.full(rows, 3.0) if constant else rng.normal(size=rows)
    y[0] = 0.0  # a true zero: MAPE divides by the smallest positive float there
    predicted = y + rng.normal(scale=0.5, size=rows)
    assert gate_metrics.rmse(y, predicted) == pytest.approx(
        np.sqrt(metrics.mean_squared_error(y, predicted))
    )
    assert gate_metrics.mae(y, predicted) == pytest.approx(
        metrics.mean_absolute_error(y, predicted)
    )
    assert gate_metrics.r2(y, predicted) == pytest.approx(metrics.r2_score(y, predicted))
    assert gate_metrics.r2(y, y) == pytest.approx(metrics.r2_score(y, y))
    assert gate_metrics.mape(y, predicted) == pytest.approx(
        metrics.mean_absolute_percentage_error(y, predicted)
    )


def test_a_true_label_outside_the_classes_leaves_log_loss_undefined() -> None:
    scores = np.array([[0.2, 0.8], [0.6, 0.4]])
    assert gate_metrics.log_loss(np.array([1, 2]), scores, [0, 1]) is None
