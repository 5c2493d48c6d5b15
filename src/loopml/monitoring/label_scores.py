"""How right logged predictions were, once their labels arrived: accuracy for a classifier,
MAE and RMSE for a regressor. Pure computation over the pairs; no I/O.

>>> score_labels([1, 0, 1], [1, 1, 1], CLASSIFICATION).accuracy   # doctest: +ELLIPSIS
0.666...
>>> score_labels([2.0, 4.0], [1.0, 4.0], REGRESSION).mae
0.5
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "CLASSIFICATION",
    "REGRESSION",
    "LabelScores",
    "class_name",
    "number_of",
    "score_labels",
    "task_of",
]

CLASSIFICATION = "classification"
REGRESSION = "regression"
_TRUE, _FALSE = "true", "false"


@dataclass(frozen=True)
class LabelScores:
    """What the labelled predictions of one version scored: ``scored`` pairs compared (a
    label that is not a number cannot score a regressor), and accuracy, or MAE and RMSE."""

    task: str
    scored: int
    accuracy: float | None = None
    mae: float | None = None
    rmse: float | None = None

    def describe(self) -> str:
        """``accuracy 0.953`` or ``MAE 1.20, RMSE 1.91`` (empty when nothing scored)."""
        if self.accuracy is not None:
            return f"accuracy {self.accuracy:.3f}"
        if self.mae is not None and self.rmse is not None:
            return f"MAE {self.mae:.4g}, RMSE {self.rmse:.4g}"
        return ""


def task_of(output_dtype: str | None, predictions: Sequence[Any]) -> str | None:
    """Whether a version classifies or regresses: its signature's output dtype says
    (``int64``, ``bool``, ``str``: classification; ``float64``: regression); without one, its
    predictions do (floats with a fraction: regression). None for several outputs per row."""
    if any(isinstance(value, list | tuple | dict) for value in predictions):
        return None
    dtype = (output_dtype or "").lower()
    if dtype.startswith(("int", "uint", "bool", "str", "object", "<u")):
        return CLASSIFICATION
    if dtype.startswith("float"):
        return REGRESSION
    fractional = any(
        isinstance(value, float) and math.isfinite(value) and not value.is_integer()
        for value in predictions
    )
    return REGRESSION if fractional else CLASSIFICATION


def score_labels(predictions: Sequence[Any], labels: Sequence[Any], task: str) -> LabelScores:
    """Compare each prediction with its label (pairs, in order). A classifier's prediction is
    right when it names the same class as the label, whatever kind the label was sent as
    (``1``, ``1.0`` and ``"1"`` are one class; ``true`` and ``"true"`` too)."""
    if task == CLASSIFICATION:
        pairs = [(p, y) for p, y in zip(predictions, labels, strict=True) if y is not None]
        if not pairs:
            return LabelScores(task, 0)
        right = sum(_class(p) == _class(y) for p, y in pairs)
        return LabelScores(task, len(pairs), accuracy=right / len(pairs))
    errors = []
    for prediction, label in zip(predictions, labels, strict=True):
        truth, guess = _number(label), _number(prediction)
        if truth is not None and guess is not None:
            errors.append(guess - truth)
    if not errors:
        return LabelScores(task, 0)
    mae = sum(abs(error) for error in errors) / len(errors)
    rmse = math.sqrt(sum(error * error for error in errors) / len(errors))
    return LabelScores(task, len(errors), mae=mae, rmse=rmse)


def _class(value: Any) -> str:
    """One spelling per class: ``1`` for 1, 1.0 and "1"; ``true`` for True and "True"."""
    if isinstance(value, bool):
        return _TRUE if value else _FALSE
    if isinstance(value, int | float):
        return _number_text(float(value))
    text = str(value).strip()
    if text.lower() in (_TRUE, _FALSE):
        return text.lower()
    number = _number(text)
    return _number_text(number) if number is not None else text


def _number_text(number: float) -> str:
    return str(int(number)) if number.is_integer() else repr(number)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    try:
        number = float(str(value).strip())
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def class_name(value: Any) -> str:
    """The one spelling of a class however it was sent (``1``, ``1.0``, ``"1"``: ``1``)."""
    return _class(value)


def number_of(value: Any) -> float | None:
    """``value`` as a finite number, None when it is not one."""
    return _number(value)
