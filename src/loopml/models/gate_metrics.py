"""The metrics a gate computes, in numpy: the numbers scikit-learn's ``sklearn.metrics`` gives,
without importing it (which imports most of scikit-learn and scipy: more than a second of every
``loopml gate`` that scores an ONNX variant and needs no scikit-learn otherwise).

Each function takes the true labels or values, and the predictions (labels, values, or one
column of probabilities per class in ``classes`` order); ``None`` where a metric is undefined
on the rows given (an AUC where a class has no row). Pure: no I/O, checked against scikit-learn
in ``tests/unit/test_gate_metrics.py``.

>>> accuracy(np.array([0, 1, 1]), np.array([0, 1, 0]))  # doctest: +SKIP
0.6666666666666666
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from loopml.core.errors import InvalidInputError

__all__ = [
    "accuracy",
    "balanced_accuracy",
    "label_score",
    "log_loss",
    "mae",
    "mape",
    "r2",
    "rmse",
    "roc_auc",
]

LABEL_SCORES = ("precision", "recall", "f1")


def accuracy(y: np.ndarray, predicted: np.ndarray) -> float:
    """The share of rows predicted right."""
    return float(np.mean(y == predicted))


def balanced_accuracy(y: np.ndarray, predicted: np.ndarray) -> float:
    """The mean, over the classes that occur in ``y``, of the share of their rows predicted
    right (recall)."""
    recalls = [np.mean(predicted[y == label] == label) for label in _labels(y)]
    return float(np.mean(recalls))


def label_score(
    name: str, y: np.ndarray, predicted: np.ndarray, positive: Any | None = None
) -> float:
    """``precision``, ``recall`` or ``f1``: of the class ``positive`` when given (binary), else
    the unweighted mean over every label in ``y`` or ``predicted`` (macro); 0 where a
    denominator is 0 (scikit-learn's ``zero_division=0``)."""
    if name not in LABEL_SCORES:
        raise InvalidInputError(f"Unknown label score {name!r}; known: {', '.join(LABEL_SCORES)}.")
    labels = [positive] if positive is not None else _labels(np.concatenate([y, predicted]))
    values = []
    for label in labels:
        actual, guessed = y == label, predicted == label
        hits = int(np.sum(actual & guessed))
        denominator = {
            "precision": int(np.sum(guessed)),
            "recall": int(np.sum(actual)),
            "f1": int(np.sum(actual)) + int(np.sum(guessed)),
        }[name]
        numerator = 2 * hits if name == "f1" else hits
        values.append(numerator / denominator if denominator else 0.0)
    return float(np.mean(values))


def log_loss(y: np.ndarray, probabilities: np.ndarray, classes: Sequence[Any]) -> float | None:
    """The mean of −log(probability given to the true class); probabilities clipped to
    [ε, 1 − ε] of their float type, columns in the sorted order of ``classes``; None when a
    true label is not one of ``classes``."""
    scores = np.asarray(probabilities)
    if not np.issubdtype(scores.dtype, np.floating):
        scores = scores.astype(np.float64)
    known = sorted(classes)
    index = {label: column for column, label in enumerate(known)}
    try:
        columns = np.asarray([index[label] for label in y.tolist()], dtype=np.intp)
    except KeyError:
        return None
    eps = np.finfo(scores.dtype).eps
    picked = np.clip(scores[np.arange(len(y)), columns], eps, 1 - eps)
    return float(np.mean(-np.log(picked)))


def roc_auc(y: np.ndarray, scores: np.ndarray, classes: Sequence[Any]) -> float | None:
    """Area under the ROC curve: of the last column (binary: the greater label is positive),
    else the mean of each class's one-vs-rest area (columns in ``classes`` order); None when a
    class it needs has no row, or no other row."""
    if len(classes) <= 2:
        labels = _labels(y)
        if len(labels) != 2:
            return None
        return _binary_auc(y == labels[-1], scores[:, -1])
    areas = []
    for index, label in enumerate(classes):
        area = _binary_auc(y == label, scores[:, index])
        if area is None:
            return None
        areas.append(area)
    return float(np.mean(areas))


def rmse(y: np.ndarray, predicted: np.ndarray) -> float:
    return float(np.sqrt(np.mean((y - predicted) ** 2)))


def mae(y: np.ndarray, predicted: np.ndarray) -> float:
    return float(np.mean(np.abs(y - predicted)))


def r2(y: np.ndarray, predicted: np.ndarray) -> float:
    """1 − residual / total sum of squares; a constant ``y`` gives 1 if predicted exactly,
    else 0."""
    residual = float(np.sum((y - predicted) ** 2))
    total = float(np.sum((y - np.mean(y)) ** 2))
    if total == 0:
        return 1.0 if residual == 0 else 0.0
    return 1 - residual / total


def mape(y: np.ndarray, predicted: np.ndarray) -> float:
    """Mean of |error| / |true value| (a true 0 counts as the smallest positive float)."""
    return float(np.mean(np.abs(y - predicted) / np.maximum(np.abs(y), np.finfo(np.float64).eps)))


def _labels(values: np.ndarray) -> list[Any]:
    return sorted(set(values.tolist()))


def _binary_auc(positive: np.ndarray, scores: np.ndarray) -> float | None:
    """The probability that a positive row scores above a negative one (ties count half):
    the Mann–Whitney statistic, which is the area under the ROC curve."""
    positives = int(np.sum(positive))
    negatives = len(positive) - positives
    if positives == 0 or negatives == 0:
        return None
    ranks = _average_ranks(np.asarray(scores, dtype=np.float64))
    above = float(np.sum(ranks[positive])) - positives * (positives + 1) / 2
    return above / (positives * negatives)


def _average_ranks(values: np.ndarray) -> np.ndarray:
    """Ranks from 1, tied values sharing the mean of their ranks."""
    order = np.argsort(values, kind="mergesort")
    ordered = values[order]
    starts = np.concatenate([[True], ordered[1:] != ordered[:-1]])
    group = np.cumsum(starts) - 1
    first = np.flatnonzero(starts)
    last = np.concatenate([first[1:], [len(values)]])
    mean_rank = (first + last + 1) / 2  # ranks first+1 … last, averaged
    ranks = np.empty(len(values))
    ranks[order] = mean_rank[group]
    return ranks
