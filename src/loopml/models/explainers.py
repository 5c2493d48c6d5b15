"""SHAP explainers for a loaded model: exact and fast where the model allows, sampled otherwise.

- ``tree``: shap's ``TreeExplainer`` (scikit-learn forests, trees and boosting, XGBoost,
  LightGBM): exact values of the model's raw output (probabilities for a forest, log-odds
  for boosting), in milliseconds.
- ``linear``: shap's ``LinearExplainer`` (scikit-learn linear models): exact values of
  ``predict`` (regression) or ``decision_function`` (log-odds, classifiers), features taken
  as independent, their means from the background rows.
- ``sampled``: anything else — a pipeline with its preprocessing, an ONNX model, a function —
  by :mod:`loopml.models.permutation_shap` on the model's own input (string categoricals and
  missing values included), of ``predict_proba`` (classifiers) or ``predict``, within a time
  budget. Also what every model gets when shap is not installed.

A binary classifier is explained for its positive class (the second of ``classes_``), one
output; a multiclass one has one output per class. Contributions of a row add up to its
output minus :attr:`Contributions.expected_value` (SHAP's additivity), exactly for every
method.

shap is imported here, and only when a model is explained.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from loopml.core.errors import InvalidInputError
from loopml.models.permutation_shap import permutation_values

__all__ = ["METHODS", "Contributions", "Explainer", "make_explainer", "shap_installed"]

METHODS = ("tree", "linear", "sampled")
SHAP_HINT = "pip install 'loopml[explain]'"


@dataclass(frozen=True)
class Contributions:
    """SHAP values of some rows: ``values`` is rows × features × outputs."""

    method: str
    feature_names: list[str]
    values: np.ndarray
    expected_value: np.ndarray  # one per output
    output: str  # what they add up to: "raw", "decision_function", "predict_proba", "predict"
    output_names: list[str] | None  # the classes explained, for a classifier
    orders: int | None = None  # feature orders sampled (method "sampled")

    def plain_values(self) -> Any:
        """rows × features as nested lists (one output), rows × features × outputs else."""
        if self.values.shape[2] == 1:
            return self.values[:, :, 0].tolist()
        return self.values.tolist()

    def plain_expected(self) -> float | list[float]:
        return (
            float(self.expected_value[0])
            if len(self.expected_value) == 1
            else [float(v) for v in self.expected_value]
        )


def shap_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("shap") is not None


class Explainer:
    """Explains rows of one model's input (what its ``predict`` takes)."""

    def __init__(self, model: Any, background: Any, *, budget_seconds: float = 5.0) -> None:
        self.model = model
        self.background = background
        self.budget_seconds = budget_seconds
        self.method, self._shap = _exact_explainer(model, background)

    def explain(self, rows: Any) -> Contributions:
        """The contributions of every feature of ``rows`` (the model's input)."""
        names = feature_names(rows)
        classes = _classes(self.model)
        if self._shap is not None:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # shap's and scikit-learn's notes on inputs
                    raw = self._shap.shap_values(rows)
                    expected = np.atleast_1d(np.asarray(self._shap.expected_value, dtype=float))
            except Exception:  # inputs shap's explainer does not take (categorical splits)
                self.method, self._shap = "sampled", None
            else:
                values = np.asarray(raw, dtype=np.float64)
                if values.ndim == 2:
                    values = values[:, :, None]
                output = "raw" if self.method == "tree" else _linear_output(self.model)
                return _positive_only(
                    Contributions(self.method, names, values, expected, output, classes)
                )
        function, output = _sampled_output(self.model)
        values, expected, orders = permutation_values(
            function, rows, self.background, budget_seconds=self.budget_seconds
        )
        explained = Contributions("sampled", names, values, expected, output, classes, orders)
        return _positive_only(explained)


def make_explainer(model: Any, background: Any, *, budget_seconds: float = 5.0) -> Explainer:
    """The explainer for ``model``: exact (tree, linear) when shap knows it, else sampled on
    ``background`` (rows of the model's input) within ``budget_seconds``."""
    return Explainer(model, background, budget_seconds=budget_seconds)


def feature_names(rows: Any) -> list[str]:
    """A DataFrame's column names; ``x0``, ``x1``, … for an array's columns."""
    columns = getattr(rows, "columns", None)
    if columns is not None:
        return [str(name) for name in columns]
    width = rows.shape[1] if len(rows.shape) > 1 else 1
    return [f"x{i}" for i in range(width)]


def _exact_explainer(model: Any, background: Any) -> tuple[str, Any]:
    """("tree" | "linear", shap's explainer), or ("sampled", None)."""
    if not shap_installed() or not _is_native(model):
        return "sampled", None
    import shap

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return "tree", shap.TreeExplainer(model)
        except Exception:  # shap does not know it as a tree model
            pass
        if _numeric(background):
            try:
                return "linear", shap.LinearExplainer(model, background)
            except Exception:  # nor as a linear one
                pass
    return "sampled", None


def _is_native(model: Any) -> bool:
    """A model of a library shap's exact explainers know (not a loopml ONNX wrapper), and not
    a scikit-learn pipeline, which they never take: then shap is not even imported (~0.5 s of
    CPU at each registration of a pipeline, before)."""
    module = type(model).__module__.split(".")[0]
    if module == "sklearn":
        from sklearn.pipeline import Pipeline  # type: ignore[import-untyped,import-not-found,unused-ignore]

        return not isinstance(model, Pipeline)
    return module in ("xgboost", "lightgbm")


def _numeric(data: Any) -> bool:
    dtypes = getattr(data, "dtypes", None)
    if dtypes is not None:
        return all(getattr(dtype, "kind", "O") in "biuf" for dtype in dtypes)
    return np.asarray(data).dtype.kind in "biuf"


def _classes(model: Any) -> list[str] | None:
    classes = getattr(model, "classes_", None)
    return [str(c) for c in classes] if classes is not None else None


def _linear_output(model: Any) -> str:
    return "decision_function" if hasattr(model, "decision_function") else "predict"


def _sampled_output(model: Any) -> tuple[Any, str]:
    """The function the sampled explainer explains: class probabilities, else predictions
    (which must be numbers)."""
    if callable(getattr(model, "predict_proba", None)):
        return (lambda x: np.asarray(model.predict_proba(x), dtype=np.float64)), "predict_proba"

    def predict(x: Any) -> np.ndarray:
        found = np.asarray(model.predict(x))
        if found.dtype.kind not in "biuf":
            raise InvalidInputError(
                "This model predicts labels and has no predict_proba, so there is no number "
                "to explain; explanations need a regressor or a classifier with probabilities."
            )
        found = found.astype(np.float64)
        return found if found.ndim == 2 else found[:, None]

    return predict, "predict"


def _positive_only(found: Contributions) -> Contributions:
    """A binary classifier explained for its second class only (its two outputs are one the
    negative of the other)."""
    names = found.output_names
    if names is None or len(names) != 2:
        return found
    if found.values.shape[2] == 2:
        return replace(
            found,
            values=found.values[:, :, 1:],
            expected_value=found.expected_value[1:],
            output_names=[names[1]],
        )
    return replace(found, output_names=[names[1]])
