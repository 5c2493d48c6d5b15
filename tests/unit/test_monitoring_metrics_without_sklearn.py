"""The monitoring metrics computed in numpy (so a first dashboard page does not import
scikit-learn) agree with scikit-learn's: the isotonic calibration curve CBPE fits, ROC AUC
with tied scores, precision/recall/F1 (binary and macro, zero where undefined), RMSE, MAE,
R²; and computing them imports no scikit-learn."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from sklearn.isotonic import IsotonicRegression  # type: ignore[import-untyped]
from sklearn.metrics import (  # type: ignore[import-untyped]
    mean_absolute_error,
    mean_squared_error,
    precision_recall_fscore_support,
    r2_score,
    roc_auc_score,
)

from loopml.monitoring.cbpe import isotonic_curve
from loopml.monitoring.performance import realised_performance, roc_auc


@pytest.mark.parametrize("seed", range(6))
def test_the_isotonic_curve_is_scikit_learns(seed: int) -> None:
    rng = np.random.default_rng(seed)
    size = int(rng.integers(2, 400))
    x = np.round(rng.random(size), int(rng.integers(1, 4)))  # rounded: many ties
    y = (rng.random(size) < x).astype(np.float64)
    xs, ys = isotonic_curve(x, y)
    model = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(x, y)
    np.testing.assert_allclose(xs, model.X_thresholds_)
    np.testing.assert_allclose(ys, model.y_thresholds_, atol=1e-12)
    probe = np.linspace(-0.1, 1.1, 57)
    np.testing.assert_allclose(np.interp(probe, xs, ys), model.predict(probe), atol=1e-12)


@pytest.mark.parametrize("seed", range(6))
def test_roc_auc_with_ties_is_scikit_learns(seed: int) -> None:
    rng = np.random.default_rng(seed)
    truth = rng.random(200) < 0.4
    scores = np.round(rng.random(200) * 0.6 + truth * 0.3, 1)  # ties
    assert roc_auc(truth, scores) == pytest.approx(roc_auc_score(truth, scores))


@pytest.mark.parametrize(
    ("labels", "predictions", "average"),
    [
        (["1", "0", "1", "1", "0"], [1, 0, 0, 1, 1], "binary"),
        (["0", "0", "0"], ["0", "0", "0"], "binary"),  # no positive at all: zeros
        (["a", "b", "c", "a", "b"], ["a", "c", "c", "a", "a"], "macro"),
        (["a", "b", "b"], ["a", "a", "d"], "macro"),  # a class only predicted
    ],
)
def test_classification_metrics_are_scikit_learns(
    labels: list[str], predictions: list[object], average: str
) -> None:
    found = realised_performance(predictions, labels, "classification")
    truth = [str(label) for label in labels]
    guess = [str(p) for p in predictions]
    positive = {"pos_label": "1"} if average == "binary" else {}
    expected = precision_recall_fscore_support(
        truth, guess, average=average, zero_division=0, **positive
    )
    assert found["accuracy"] == pytest.approx(np.mean(np.asarray(truth) == np.asarray(guess)))
    assert (found["precision"], found["recall"], found["f1"]) == pytest.approx(expected[:3])


def test_regression_metrics_are_scikit_learns() -> None:
    truth, guess = [3.0, -0.5, 2.0, 7.0, 4.2], [2.5, 0.0, 2.0, 8.0, 4.0]
    found = realised_performance(guess, truth, "regression")
    assert found["rmse"] == pytest.approx(mean_squared_error(truth, guess) ** 0.5)
    assert found["mae"] == pytest.approx(mean_absolute_error(truth, guess))
    assert found["r2"] == pytest.approx(r2_score(truth, guess))


def test_computing_the_metrics_imports_no_scikit_learn() -> None:
    code = (
        "import sys, numpy as np\n"
        "from loopml.monitoring.cbpe import fit_cbpe\n"
        "from loopml.monitoring.performance import realised_performance\n"
        "realised_performance([1, 0, 1], ['1', '0', '0'], 'classification', [0.9, 0.2, 0.6])\n"
        "fit_cbpe(np.array([0, 1, 1, 0]), np.array([0.2, 0.7, 0.9, 0.4]))\n"
        "print('sklearn' in sys.modules)\n"
    )
    answer = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert answer.stdout.strip() == "False"
