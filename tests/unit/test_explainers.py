"""SHAP explanations add up: each row's contributions sum to the model's output minus the
expected value, for a tree model and a linear model (shap's exact explainers) and for a
pipeline on a real-world table (string categoricals, missing values, string labels: the
sampled explainer)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer  # type: ignore[import-untyped]
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor  # type: ignore[import-untyped]
from sklearn.impute import SimpleImputer  # type: ignore[import-untyped]
from sklearn.linear_model import LinearRegression, LogisticRegression  # type: ignore[import-untyped]
from sklearn.pipeline import make_pipeline  # type: ignore[import-untyped]
from sklearn.preprocessing import OneHotEncoder  # type: ignore[import-untyped]

from loopml.core.errors import InvalidInputError
from loopml.models.explainers import make_explainer
from loopml.models.explanations import importance_json
from loopml.models.permutation_shap import permutation_values

RNG = np.random.default_rng(7)
NUMBERS = pd.DataFrame(RNG.normal(size=(120, 4)), columns=["age", "income", "tenure", "score"])
LABELS = np.where(NUMBERS["age"] + 0.5 * NUMBERS["income"] > 0, "churned", "stayed")


def _sums(explained: Any) -> np.ndarray:
    """rows × outputs: each row's contributions added up, plus the expected value."""
    return np.asarray(explained.values.sum(axis=1) + explained.expected_value)


def test_a_forest_is_explained_exactly_and_its_values_add_up_to_its_probabilities() -> None:
    model = RandomForestClassifier(n_estimators=20, random_state=0).fit(NUMBERS, LABELS)
    explained = make_explainer(model, NUMBERS.head(10)).explain(NUMBERS.head(15))
    assert explained.method == "tree"
    assert explained.output_names == ["stayed"]  # binary: the second class, one output
    assert explained.values.shape == (15, 4, 1)
    expected = model.predict_proba(NUMBERS.head(15))[:, 1:]
    np.testing.assert_allclose(_sums(explained), expected, atol=1e-9)
    assert importance_json(explained)["feature_names"][0] == "age"


def test_a_multiclass_forest_has_one_output_per_class_and_each_adds_up() -> None:
    classes = np.select([NUMBERS["age"] > 0.5, NUMBERS["age"] < -0.5], ["a", "c"], "b")
    model = RandomForestClassifier(n_estimators=10, random_state=0).fit(NUMBERS, classes)
    explained = make_explainer(model, NUMBERS).explain(NUMBERS.head(5))
    assert explained.values.shape == (5, 4, 3) and explained.output_names == ["a", "b", "c"]
    np.testing.assert_allclose(_sums(explained), model.predict_proba(NUMBERS.head(5)), atol=1e-9)


def test_a_regression_forest_adds_up_to_its_predictions() -> None:
    target = NUMBERS["age"] * 3 + NUMBERS["tenure"]
    model = RandomForestRegressor(n_estimators=10, random_state=0).fit(NUMBERS, target)
    explained = make_explainer(model, NUMBERS).explain(NUMBERS.head(8))
    assert explained.method == "tree" and explained.output_names is None
    np.testing.assert_allclose(_sums(explained)[:, 0], model.predict(NUMBERS.head(8)), atol=1e-9)


def test_a_logistic_regression_is_explained_exactly_in_log_odds() -> None:
    model = LogisticRegression().fit(NUMBERS, LABELS)
    background = NUMBERS.head(50)
    explained = make_explainer(model, background).explain(NUMBERS.head(12))
    assert (explained.method, explained.output) == ("linear", "decision_function")
    expected = model.decision_function(NUMBERS.head(12))
    np.testing.assert_allclose(_sums(explained)[:, 0], expected, atol=1e-9)
    # features taken as independent: a coefficient times the distance from the mean
    age = model.coef_[0][0] * (NUMBERS["age"].head(12) - background["age"].mean())
    np.testing.assert_allclose(explained.values[:, 0, 0], age, atol=1e-9)


def test_a_linear_regression_on_an_array_names_its_columns_x0_x1() -> None:
    x = NUMBERS.to_numpy()
    model = LinearRegression().fit(x, x @ np.array([1.0, -2.0, 0.0, 0.5]))
    explained = make_explainer(model, x).explain(x[:6])
    assert explained.method == "linear" and explained.feature_names == ["x0", "x1", "x2", "x3"]
    np.testing.assert_allclose(_sums(explained)[:, 0], model.predict(x[:6]), atol=1e-9)


def _table() -> pd.DataFrame:
    frame = NUMBERS.copy()
    frame["plan"] = np.where(RNG.random(len(frame)) > 0.5, "basic", "premium")
    frame.loc[[3, 17], "income"] = np.nan  # missing values
    frame.loc[5, "plan"] = None
    return frame


def _pipeline(frame: pd.DataFrame) -> Any:
    features = ColumnTransformer(
        [
            ("numbers", SimpleImputer(), ["age", "income", "tenure", "score"]),
            (
                "words",
                make_pipeline(
                    SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="ignore")
                ),
                ["plan"],
            ),
        ]
    )
    return make_pipeline(features, LogisticRegression()).fit(frame, LABELS)


def test_a_pipeline_on_a_real_table_is_sampled_and_still_adds_up_exactly() -> None:
    frame = _table()
    model = _pipeline(frame)
    explained = make_explainer(model, frame.head(20)).explain(frame.iloc[:6])
    assert explained.method == "sampled" and explained.output == "predict_proba"
    assert explained.feature_names == ["age", "income", "tenure", "score", "plan"]
    assert explained.orders is not None and explained.orders >= 2
    expected = model.predict_proba(frame.iloc[:6])[:, 1:]
    np.testing.assert_allclose(_sums(explained), expected, atol=1e-9)
    ranked = np.abs(explained.values[:, :, 0]).mean(axis=0)
    assert int(np.argmax(ranked)) == 0  # age decides the label


def test_sampling_finds_the_exact_values_of_a_model_without_interactions() -> None:
    weights = np.array([2.0, -1.0, 0.0])

    def outputs(x: np.ndarray) -> np.ndarray:
        return (x @ weights)[:, None]

    rows, background = RNG.normal(size=(4, 3)), RNG.normal(size=(9, 3))
    values, expected, orders = permutation_values(outputs, rows, background, max_orders=2)
    assert orders == 2
    np.testing.assert_allclose(values[:, :, 0], (rows - background.mean(axis=0)) * weights)
    np.testing.assert_allclose(expected, [float((background @ weights).mean())])


def test_a_model_that_only_predicts_labels_cannot_be_explained() -> None:
    class Labels:
        def predict(self, x: Any) -> np.ndarray:
            return np.array(["yes"] * len(x))

    with pytest.raises(InvalidInputError, match="no number to explain"):
        make_explainer(Labels(), NUMBERS.head(3)).explain(NUMBERS.head(2))


def test_a_spent_time_budget_stops_after_one_order_and_its_reverse() -> None:
    rows, background = RNG.normal(size=(2, 3)), RNG.normal(size=(4, 3))
    values, expected, orders = permutation_values(
        lambda x: x[:, :1] * x[:, 1:2] + x[:, 2:], rows, background, budget_seconds=0.0
    )
    assert orders == 2
    np.testing.assert_allclose(
        values.sum(axis=1)[:, 0] + expected[0],
        rows[:, 0] * rows[:, 1] + rows[:, 2],
        atol=1e-12,
    )
