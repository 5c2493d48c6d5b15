"""Realised performance of labelled predictions, by scikit-learn's metrics: accuracy,
precision, recall, F1 and (given class-1 scores) ROC AUC for a classifier; RMSE, MAE and R²
for a regressor. Pure computation.

>>> realised_performance([1, 0, 1, 1], ["1", "0", "0", "1"], "classification")["accuracy"]
0.75
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from loopml.monitoring.label_scores import CLASSIFICATION, class_name, number_of

__all__ = ["realised_performance"]

_BINARY = ({"0", "1"}, {"false", "true"})


def realised_performance(
    predictions: Sequence[Any],
    labels: Sequence[Any],
    task: str,
    scores: Sequence[float | None] | None = None,
) -> dict[str, Any]:
    """The metrics of ``predictions`` against ``labels`` (pairs, in order): ``task``,
    ``labelled`` (pairs compared) and the task's metrics, None where they cannot be computed
    (``note`` says why). Classes match however they were sent (``1``, ``1.0``, ``"1"``).
    Needs scikit-learn (``pip install 'loopml[sklearn]'``): without it, the metrics are None."""
    try:
        import sklearn.metrics  # type: ignore[import-untyped]  # noqa: F401
    except ImportError:
        return {
            "task": task,
            "labelled": sum(label is not None for label in labels),
            "note": "no metrics: scikit-learn is not installed (pip install 'loopml[sklearn]')",
        }
    if task == CLASSIFICATION:
        return _classification(predictions, labels, scores)
    return _regression(predictions, labels)


def _classification(
    predictions: Sequence[Any], labels: Sequence[Any], scores: Sequence[float | None] | None
) -> dict[str, Any]:
    from sklearn.metrics import (
        accuracy_score,
        precision_recall_fscore_support,
    )

    kept = [i for i, label in enumerate(labels) if label is not None]
    y_true = [class_name(labels[i]) for i in kept]
    y_pred = [class_name(predictions[i]) for i in kept]
    found: dict[str, Any] = {
        "task": CLASSIFICATION,
        "labelled": len(kept),
        "accuracy": None,
        "precision": None,
        "recall": None,
        "f1": None,
        "roc_auc": None,
        "average": None,
        "note": "",
    }
    if not kept:
        return found
    classes = set(y_true) | set(y_pred)
    positive = next((max(pair) for pair in _BINARY if classes <= pair), None)
    average = "binary" if positive is not None else "macro"
    precision, recall, f1, _ = precision_recall_fscore_support(
        y_true, y_pred, average=average, pos_label=positive or 1, zero_division=0
    )
    found.update(
        accuracy=float(accuracy_score(y_true, y_pred)),
        precision=float(precision),
        recall=float(recall),
        f1=float(f1),
        average=f"binary (positive class {positive})" if positive else "macro",
    )
    found["roc_auc"], found["note"] = _roc_auc(y_true, kept, scores, positive)
    return found


def _roc_auc(
    y_true: list[str], kept: list[int], scores: Sequence[float | None] | None, positive: str | None
) -> tuple[float | None, str]:
    if scores is None:
        return None, "no ROC AUC: the log holds no scores (class probabilities)"
    if positive is None:
        return None, "no ROC AUC: more than two classes"
    pairs = [(y == positive, scores[i]) for y, i in zip(y_true, kept, strict=True)]
    pairs = [(y, s) for y, s in pairs if s is not None and math.isfinite(s)]
    if len({y for y, _ in pairs}) < 2:
        return None, "no ROC AUC: the labels hold one class only"
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score([y for y, _ in pairs], [s for _, s in pairs])), ""


def _regression(predictions: Sequence[Any], labels: Sequence[Any]) -> dict[str, Any]:
    import numpy as np
    from sklearn.metrics import (
        mean_absolute_error,
        mean_squared_error,
        r2_score,
    )

    pairs = [(number_of(p), number_of(y)) for p, y in zip(predictions, labels, strict=True)]
    kept = [(p, y) for p, y in pairs if p is not None and y is not None]
    found: dict[str, Any] = {
        "task": "regression",
        "labelled": len(kept),
        "rmse": None,
        "mae": None,
        "r2": None,
        "note": "",
    }
    if not kept:
        return found
    guess = np.asarray([p for p, _ in kept])
    truth = np.asarray([y for _, y in kept])
    found.update(
        rmse=float(math.sqrt(mean_squared_error(truth, guess))),
        mae=float(mean_absolute_error(truth, guess)),
    )
    if len(kept) >= 2 and float(np.var(truth)) > 0:
        found["r2"] = float(r2_score(truth, guess))
    else:
        found["note"] = "no R²: fewer than two labels, or labels that are all equal"
    return found
