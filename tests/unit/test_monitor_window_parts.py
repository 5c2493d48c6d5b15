"""The pure pieces of live monitoring: the latency sketch (percentiles within its stated
error of the exact nearest-rank value, merging equals sketching the union), realised
performance equal to scikit-learn's on the same pairs, and error rows of the log."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import (  # type: ignore[import-untyped]
    f1_score,
    mean_absolute_error,
    mean_squared_error,
    precision_score,
    r2_score,
    recall_score,
    roc_auc_score,
)

from loopml.monitoring.latency_sketch import RELATIVE_ERROR, LatencySketch
from loopml.monitoring.log_records import ErrorEntry, to_table
from loopml.monitoring.performance import realised_performance

latencies = st.lists(
    st.floats(min_value=0.01, max_value=60_000, allow_nan=False), min_size=1, max_size=300
)


@settings(max_examples=60, deadline=None)
@given(latencies, latencies, st.sampled_from([0.5, 0.9, 0.95, 0.99, 1.0]))
def test_sketch_quantiles_are_within_the_relative_error_and_merge_like_the_union(
    first: list[float], second: list[float], q: float
) -> None:
    merged = LatencySketch.of(first)
    merged.merge(LatencySketch.from_dict(LatencySketch.of(second).to_dict()))
    union = LatencySketch.of(first + second)
    assert merged.counts == union.counts
    exact = float(np.quantile(np.asarray(first + second), q, method="inverted_cdf"))
    found = merged.quantile(q)
    assert found is not None and math.isclose(found, exact, rel_tol=RELATIVE_ERROR + 1e-12)
    assert LatencySketch().quantile(q) is None


def test_binary_classification_matches_sklearn_with_roc_auc_from_scores() -> None:
    rng = np.random.default_rng(1)
    truth = rng.integers(0, 2, 500)
    scores = np.clip(truth * 0.3 + rng.uniform(0, 0.7, 500), 0, 1)
    guess = (scores > 0.5).astype(int)
    labels = [str(v) for v in truth]  # labels sent as text still match the int predictions
    found = realised_performance(guess.tolist(), labels, "classification", scores.tolist())
    assert found["labelled"] == 500
    assert found["accuracy"] == pytest.approx(float(np.mean(truth == guess)))
    assert found["precision"] == pytest.approx(precision_score(truth, guess))
    assert found["recall"] == pytest.approx(recall_score(truth, guess))
    assert found["f1"] == pytest.approx(f1_score(truth, guess))
    assert found["roc_auc"] == pytest.approx(roc_auc_score(truth, scores))
    without = realised_performance(guess.tolist(), labels, "classification")
    assert without["roc_auc"] is None and "no scores" in without["note"]


def test_multiclass_is_macro_averaged_and_unlabelled_pairs_are_left_out() -> None:
    truth = ["a", "b", "c", "a", "b", "c", "a"]
    guess = ["a", "b", "b", "a", "c", "c", "b"]
    found = realised_performance([*guess, "a"], [*truth, None], "classification")
    assert found["labelled"] == 7 and found["average"] == "macro"
    assert found["precision"] == pytest.approx(precision_score(truth, guess, average="macro"))
    assert found["f1"] == pytest.approx(f1_score(truth, guess, average="macro"))
    assert found["roc_auc"] is None


def test_regression_matches_sklearn_and_says_when_r2_is_undefined() -> None:
    rng = np.random.default_rng(2)
    truth = rng.normal(10, 3, 200)
    guess = truth + rng.normal(0, 1, 200)
    found = realised_performance(guess.tolist(), truth.tolist(), "regression")
    assert found["rmse"] == pytest.approx(math.sqrt(mean_squared_error(truth, guess)))
    assert found["mae"] == pytest.approx(mean_absolute_error(truth, guess))
    assert found["r2"] == pytest.approx(r2_score(truth, guess))
    one = realised_performance([1.0], ["2.5"], "regression")
    assert one["mae"] == pytest.approx(1.5) and one["r2"] is None and "R²" in one["note"]


def test_error_rows_carry_status_code_version_and_time() -> None:
    table = to_table(
        [
            ErrorEntry("r1", 1_000, "m@1", "main", 2.5, 422, "input_mismatch"),
            ErrorEntry("r2", 2_000, "m@1", "canary", 3.0, 500, "internal_error"),
        ]
    )
    assert table.column_names == [
        "request_id", "time", "model_version", "traffic", "latency_ms", "status", "code",
    ]  # fmt: skip
    assert table["status"].to_pylist() == [422, 500]
    assert table["code"].to_pylist() == ["input_mismatch", "internal_error"]
