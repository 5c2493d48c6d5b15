"""The metrics of :mod:`.cbpe`: expected from calibrated probabilities, and realised from
labels (pure NumPy; definitions as scikit-learn's, checked against it in the tests).

Binary, with calibrated ``p`` (probability of the positive class) and predictions ``ŷ``:
the expected confusion counts are ``TP = Σ_{ŷ=1} p``, ``FP = Σ_{ŷ=1} (1 − p)``,
``FN = Σ_{ŷ=0} p``, ``TN = Σ_{ŷ=0} (1 − p)``; rows are independent Bernoulli trials, so
``Var(TP) = Σ_{ŷ=1} p(1 − p)`` and ``Var(FN) = Σ_{ŷ=0} p(1 − p)``. Multiclass metrics are
macro averages of one-vs-rest ones; their standard error treats the classes as independent.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

__all__ = [
    "METRICS",
    "estimate_binary",
    "estimate_multiclass",
    "realised_binary",
    "realised_multiclass",
]

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
METRICS = ("accuracy", "roc_auc", "precision", "recall", "f1")
Estimates = dict[str, tuple[float, float]]  # metric -> (value, standard error)


def estimate_binary(raw: Floats, p: Floats, predicted: Ints) -> Estimates:
    """Expected metrics and their standard errors of one binary chunk."""
    n = len(p)
    correct = np.where(predicted == 1, p, 1.0 - p)
    found = _counts(p, predicted == 1)
    found["accuracy"] = (
        float(correct.mean()),
        math.sqrt(float(np.sum(correct * (1 - correct)))) / n,
    )
    found["roc_auc"] = _expected_auc(raw, p)
    return {name: found[name] for name in METRICS}


def estimate_multiclass(raw: Floats, p: Floats, predicted: Ints) -> Estimates:
    """Expected accuracy, and macro one-vs-rest ROC AUC, precision, recall and F1."""
    n, classes = p.shape
    correct = p[np.arange(n), predicted]
    per_class = []
    for k in range(classes):
        found = _counts(p[:, k], predicted == k)
        found["roc_auc"] = _expected_auc(raw[:, k], p[:, k])
        per_class.append(found)
    out = {
        "accuracy": (float(correct.mean()), math.sqrt(float(np.sum(correct * (1 - correct)))) / n)
    }
    for name in METRICS[1:]:
        values = [found[name] for found in per_class]
        value = float(np.mean([v for v, _ in values]))
        out[name] = (value, math.sqrt(sum(se**2 for _, se in values)) / classes)
    return out


def realised_binary(raw: Floats, truth: Ints, predicted: Ints) -> dict[str, float]:
    positive, called = truth == 1, predicted == 1
    out = _realised_counts(positive, called)
    out["accuracy"] = float(np.mean(positive == called))
    out["roc_auc"] = _auc(raw, positive)
    return {name: out[name] for name in METRICS}


def realised_multiclass(raw: Floats, truth: Ints, predicted: Ints) -> dict[str, float]:
    classes = raw.shape[1]
    per_class = []
    for k in range(classes):
        found = _realised_counts(truth == k, predicted == k)
        found["roc_auc"] = _auc(raw[:, k], truth == k)
        per_class.append(found)
    out = {"accuracy": float(np.mean(truth == predicted))}
    for name in METRICS[1:]:
        out[name] = float(np.mean([found[name] for found in per_class]))
    return out


def _counts(p: Floats, called: npt.NDArray[np.bool_]) -> Estimates:
    """Expected precision, recall and F1 of a one-vs-rest split, with standard errors."""
    spread = p * (1 - p)
    tp, fn = float(p[called].sum()), float(p[~called].sum())
    var_tp, var_fn = float(spread[called].sum()), float(spread[~called].sum())
    n_called = int(called.sum())
    precision = (tp / n_called, math.sqrt(var_tp) / n_called) if n_called else (0.0, 0.0)
    positives = tp + fn
    if positives > 0:
        value = tp / positives
        se = math.sqrt(fn**2 * var_tp + tp**2 * var_fn) / positives**2
        recall = (value, se)
    else:
        recall = (0.0, 0.0)
    denominator = n_called + positives
    if denominator > 0:
        value = 2 * tp / denominator
        d_tp, d_fn = 2 * (n_called + fn) / denominator**2, -2 * tp / denominator**2
        f1 = (value, math.sqrt(d_tp**2 * var_tp + d_fn**2 * var_fn))
    else:
        f1 = (0.0, 0.0)
    return {"precision": precision, "recall": recall, "f1": f1}


def _realised_counts(
    positive: npt.NDArray[np.bool_], called: npt.NDArray[np.bool_]
) -> dict[str, float]:
    tp = float(np.sum(positive & called))
    n_called, n_positive = float(called.sum()), float(positive.sum())
    precision = tp / n_called if n_called else 0.0
    recall = tp / n_positive if n_positive else 0.0
    total = n_called + n_positive
    return {"precision": precision, "recall": recall, "f1": 2 * tp / total if total else 0.0}


def _expected_auc(raw: Floats, p: Floats) -> tuple[float, float]:
    """The area under the ROC curve of expected counts over the raw scores' thresholds
    (tied scores are one threshold), and Hanley–McNeil's standard error at the expected
    class counts."""
    order = np.argsort(-raw, kind="stable")
    scores, weights = raw[order], p[order]
    last_of_tie = np.r_[scores[1:] != scores[:-1], True]
    tps = np.r_[0.0, np.cumsum(weights)[last_of_tie]]
    fps = np.r_[0.0, np.cumsum(1.0 - weights)[last_of_tie]]
    if tps[-1] <= 0 or fps[-1] <= 0:
        return float("nan"), float("nan")
    tpr, fpr = tps / tps[-1], fps / fps[-1]
    area = float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1])) / 2)  # the trapezoid rule
    return area, _hanley_mcneil(area, tps[-1], fps[-1])


def _hanley_mcneil(area: float, positives: float, negatives: float) -> float:
    q1, q2 = area / (2 - area), 2 * area**2 / (1 + area)
    variance = (
        area * (1 - area) + (positives - 1) * (q1 - area**2) + (negatives - 1) * (q2 - area**2)
    ) / (positives * negatives)
    return math.sqrt(max(variance, 0.0))


def _auc(raw: Floats, positive: npt.NDArray[np.bool_]) -> float:
    """Realised ROC AUC (the Mann–Whitney statistic, ties counted half); NaN on one class."""
    from scipy.stats import rankdata

    n_pos = int(positive.sum())
    n_neg = len(positive) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(raw)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
