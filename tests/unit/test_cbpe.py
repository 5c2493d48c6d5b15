"""Performance before labels (loopml.monitoring.cbpe): on scikit-learn's breast-cancer and
digits tables the estimates agree with the realised metrics within their standard errors,
fall with them on a harder subpopulation, and the standard errors cover the realised values
at about their rate; the realised metrics are scikit-learn's; a model without probabilities
is refused."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from sklearn import metrics as skm
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.svm import SVC

from loopml.core.errors import InvalidInputError
from loopml.monitoring.cbpe import (
    CBPE,
    METRICS,
    compare_with_realised,
    fit_cbpe,
    predicted_probabilities,
    realised_performance,
)

FEATURES = ["mean radius", "mean texture"]  # two features: a model right about 90% of the time


@pytest.fixture(scope="module")
def cancer() -> dict[str, Any]:
    """A model trained on 30% of breast_cancer; a labelled reference and an analysis set
    (35% each) it never saw."""
    x, y = load_breast_cancer(return_X_y=True, as_frame=True)
    x_train, x_rest, y_train, y_rest = train_test_split(
        x[FEATURES], y, test_size=0.7, random_state=0, stratify=y
    )
    x_ref, x_new, y_ref, y_new = train_test_split(
        x_rest, y_rest, test_size=0.5, random_state=1, stratify=y_rest
    )
    model = LogisticRegression(max_iter=1000).fit(x_train, y_train)
    estimator = fit_cbpe(y_ref.to_numpy(), predicted_probabilities(model, x_ref))
    return {"model": model, "estimator": estimator, "x": x_new, "y": y_new.to_numpy()}


def _compare(estimator: CBPE, scores: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    estimate = estimator.estimate(scores)
    return compare_with_realised(estimate, realised_performance(estimator, labels, scores))


def test_without_shift_the_estimates_agree_with_the_realised_metrics(
    cancer: dict[str, Any],
) -> None:
    scores = predicted_probabilities(cancer["model"], cancer["x"])
    compared = _compare(cancer["estimator"], scores, cancer["y"])
    assert set(compared) == set(METRICS)
    for name in ("accuracy", "precision", "recall", "f1"):
        found = compared[name]
        assert 0 < found.standard_error < 0.05
        assert abs(found.error) <= 3 * found.standard_error, found


def test_a_harder_subpopulation_lowers_the_estimate_with_the_realised_accuracy(
    cancer: dict[str, Any],
) -> None:
    """Covariate shift: only the tumours of middling radius, where the classes overlap."""
    x, y = cancer["x"], cancer["y"]
    middling = ((x["mean radius"] > 12) & (x["mean radius"] < 16)).to_numpy()
    everyone = _compare(cancer["estimator"], predicted_probabilities(cancer["model"], x), y)
    harder = _compare(
        cancer["estimator"], predicted_probabilities(cancer["model"], x[middling]), y[middling]
    )
    drop = everyone["accuracy"].estimated - harder["accuracy"].estimated
    assert drop > 2 * harder["accuracy"].standard_error
    assert harder["accuracy"].realised < everyone["accuracy"].realised
    assert abs(harder["accuracy"].error) <= 3 * harder["accuracy"].standard_error


def test_multiclass_estimates_agree_with_the_realised_metrics_on_digits() -> None:
    x, y = load_digits(return_X_y=True)
    x = x[:, 16:48] / 16.0  # the middle rows of pixels: a model right about 80% of the time
    x_train, x_rest, y_train, y_rest = train_test_split(x, y, test_size=0.7, random_state=0)
    x_ref, x_new, y_ref, y_new = train_test_split(x_rest, y_rest, test_size=0.5, random_state=1)
    model = LogisticRegression(max_iter=2000).fit(x_train, y_train)
    estimator = fit_cbpe(y_ref, model.predict_proba(x_ref), classes=model.classes_)
    assert estimator.multiclass and estimator.classes == tuple(str(c) for c in range(10))
    compared = _compare(estimator, model.predict_proba(x_new), y_new)
    for name in METRICS:
        assert abs(compared[name].error) <= 3 * compared[name].standard_error, compared[name]


def _simulated(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Labels from a curved logistic truth, scores from a miscalibrated straight model."""
    x = rng.normal(0, 1, (n, 2))
    logit = 1.5 * x[:, 0] - x[:, 1] + 0.3 * x[:, 0] ** 2 - 0.3
    labels = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return labels, 1 / (1 + np.exp(-(1.2 * x[:, 0] - 0.8 * x[:, 1])))


def test_the_realised_values_fall_within_the_95_percent_interval_about_95_percent_of_the_time() -> (
    None
):
    """40 chunks of 2,000 predictions, each estimator calibrated on 5,000 reference rows.
    Measured: 90-95% inside per metric (the calibration's own error widens the spread a
    little beyond the chunk's sampling error, which is all the standard error counts)."""
    inside: dict[str, list[bool]] = {name: [] for name in METRICS}
    for seed in range(40):
        rng = np.random.default_rng(seed)
        estimator = fit_cbpe(*_simulated(rng, 5_000))
        labels, scores = _simulated(rng, 2_000)
        for name, found in _compare(estimator, scores, labels).items():
            low, high = estimator.estimate(scores)[name].interval()
            inside[name].append(low <= found.realised <= high)
    for name, hits in inside.items():
        assert np.mean(hits) >= 0.85, (name, np.mean(hits))


def test_the_realised_metrics_are_scikit_learns() -> None:
    rng = np.random.default_rng(3)
    labels, scores = _simulated(rng, 3_000)
    scores = np.round(scores, 2)  # ties, counted half in ROC AUC
    estimator = fit_cbpe(labels, scores, threshold=0.4)
    called = (scores >= 0.4).astype(int)
    got = realised_performance(estimator, labels, scores)
    assert got["accuracy"] == pytest.approx(skm.accuracy_score(labels, called), abs=1e-12)
    assert got["precision"] == pytest.approx(skm.precision_score(labels, called), abs=1e-12)
    assert got["recall"] == pytest.approx(skm.recall_score(labels, called), abs=1e-12)
    assert got["f1"] == pytest.approx(skm.f1_score(labels, called), abs=1e-12)
    assert got["roc_auc"] == pytest.approx(skm.roc_auc_score(labels, scores), abs=1e-12)
    x, y = load_digits(return_X_y=True)
    x = x[:, 16:48] / 16.0
    model = LogisticRegression(max_iter=2000).fit(x[:900], y[:900])
    proba, truth = model.predict_proba(x[900:]), y[900:]
    multi = realised_performance(fit_cbpe(y[:900], model.predict_proba(x[:900])), truth, proba)
    called = proba.argmax(axis=1)
    assert multi["accuracy"] == pytest.approx(skm.accuracy_score(truth, called), abs=1e-12)
    macro = {"average": "macro", "zero_division": 0}
    assert multi["f1"] == pytest.approx(skm.f1_score(truth, called, **macro), abs=1e-12)
    assert multi["precision"] == pytest.approx(skm.precision_score(truth, called, **macro))
    assert multi["roc_auc"] == pytest.approx(skm.roc_auc_score(truth, proba, multi_class="ovr"))


def test_a_fitted_estimator_round_trips_through_json(cancer: dict[str, Any]) -> None:
    scores = predicted_probabilities(cancer["model"], cancer["x"])
    again = CBPE.from_dict(json.loads(json.dumps(cancer["estimator"].to_dict())))
    assert again == cancer["estimator"]
    assert again.estimate(scores) == cancer["estimator"].estimate(scores)


@pytest.mark.parametrize(
    "broken, message",
    [
        ({"classes": ["0", "1"], "threshold": 0.5}, "malformed CBPE estimator: KeyError"),
        ({"classes": ["0", "1"], "threshold": 0.5, "curves": []}, "need 1 calibration curves"),
        (
            {"classes": ["0", "1"], "threshold": 0.5, "curves": [{"x": [1, 0], "y": [0, 1]}]},
            "x ascending",
        ),
    ],
)
def test_a_malformed_estimator_is_refused(broken: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        CBPE.from_dict(broken)


def test_calibration_is_scikit_learns_isotonic_regression(cancer: dict[str, Any]) -> None:
    from sklearn.isotonic import IsotonicRegression

    rng = np.random.default_rng(5)
    labels, scores = _simulated(rng, 1_000)
    expected = IsotonicRegression(y_min=0, y_max=1, out_of_bounds="clip").fit(scores, labels)
    probe = np.linspace(0, 1, 501)
    got = fit_cbpe(labels, scores).calibrate(probe)
    np.testing.assert_allclose(got, expected.predict(probe), atol=1e-12)


@pytest.mark.parametrize("model", [SVC(), LinearRegression()], ids=["svc", "regressor"])
def test_a_model_without_probabilities_is_refused(model: Any, cancer: dict[str, Any]) -> None:
    x, y = load_breast_cancer(return_X_y=True)
    model.fit(x[:200], y[:200])
    with pytest.raises(InvalidInputError, match=r"needs class probabilities.*no predict_proba"):
        predicted_probabilities(model, x[200:])


@pytest.mark.parametrize(
    "scores, message",
    [
        (np.tile([0.0, 1.0], 50), "look like predicted labels, not probabilities"),
        (np.linspace(-3, 3, 100), "between 0 and 1"),
        (np.full((100, 2), 0.5), "1-D array of the positive class's probabilities"),
        (np.array([]), "the chunk is empty"),
    ],
)
def test_scores_that_are_not_probabilities_are_refused(
    scores: np.ndarray, message: str, cancer: dict[str, Any]
) -> None:
    with pytest.raises(InvalidInputError, match=message):
        cancer["estimator"].estimate(scores)


def test_a_reference_that_cannot_calibrate_is_refused() -> None:
    scores = np.linspace(0, 1, 100)
    with pytest.raises(InvalidInputError, match="rows of every class"):
        fit_cbpe(np.ones(100, dtype=int), scores)
    with pytest.raises(
        InvalidInputError, match=r"labels \['2'\] that are not among the classes \['0', '1'\]"
    ):
        fit_cbpe(np.r_[np.zeros(99, dtype=int), 2], scores)
    with pytest.raises(InvalidInputError, match="threshold must be between 0 and 1"):
        fit_cbpe(np.arange(100) % 2, scores, threshold=1.5)
    with pytest.raises(InvalidInputError, match="99 labels for 100 score rows"):
        fit_cbpe(np.arange(99) % 2, scores)


def test_the_modules_example_runs_as_written() -> None:
    import doctest

    from loopml.monitoring import cbpe

    assert doctest.testmod(cbpe).failed == 0
