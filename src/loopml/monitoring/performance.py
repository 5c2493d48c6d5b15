"""Realised performance of labelled predictions, with scikit-learn's definitions computed in
numpy (importing scikit-learn costs seconds a dashboard's first page should not pay):
accuracy, precision, recall, F1 (zero where undefined) and, given class-1 scores, ROC AUC for
a classifier; RMSE, MAE and R² for a regressor. Pure computation.

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
    predictions: Sequence[Any] | Any,
    labels: Sequence[Any] | Any,
    task: str,
    scores: Sequence[float | None] | Any | None = None,
) -> dict[str, Any]:
    """The metrics of ``predictions`` against ``labels`` (pairs, in order; sequences or
    pyarrow arrays, which are classified once per distinct value): ``task``,
    ``labelled`` (pairs compared) and the task's metrics, None where they cannot be computed
    (``note`` says why). Classes match however they were sent (``1``, ``1.0``, ``"1"``)."""
    if task == CLASSIFICATION:
        return _classification(predictions, labels, scores)
    return _regression(predictions, labels)


def _classification(
    predictions: Sequence[Any] | Any, labels: Sequence[Any] | Any, scores: Any
) -> dict[str, Any]:
    import numpy as np

    vocabulary: dict[str, int] = {}
    y_true = _class_codes(labels, vocabulary)
    y_pred = _class_codes(predictions, vocabulary)
    kept = np.flatnonzero(y_true >= 0)
    y_true, y_pred = y_true[kept], y_pred[kept]
    found: dict[str, Any] = {
        "task": CLASSIFICATION,
        "labelled": int(kept.size),
        "accuracy": None,
        "precision": None,
        "recall": None,
        "f1": None,
        "roc_auc": None,
        "average": None,
        "note": "",
    }
    if not kept.size:
        return found
    names = {code: name for name, code in vocabulary.items()}
    classes = {names[int(code)] for code in np.unique(np.concatenate([y_true, y_pred]))}
    positive = next((max(pair) for pair in _BINARY if classes <= pair), None)
    pos_label = vocabulary.get(positive or "", 1)
    labels = [pos_label] if positive is not None else np.unique(np.concatenate([y_true, y_pred]))
    scores_by_label = [_precision_recall_f1(y_true, y_pred, label) for label in labels]
    precision, recall, f1 = (
        float(np.mean(column)) for column in zip(*scores_by_label, strict=True)
    )
    found.update(
        accuracy=float(np.mean(y_true == y_pred)),
        precision=float(precision),
        recall=float(recall),
        f1=float(f1),
        average=f"binary (positive class {positive})" if positive else "macro",
    )
    is_positive = y_true == vocabulary.get(positive or "", -2)
    found["roc_auc"], found["note"] = _roc_auc(is_positive, kept, scores, positive)
    return found


def _precision_recall_f1(y_true: Any, y_pred: Any, label: Any) -> tuple[float, float, float]:
    """One class's precision, recall and F1, 0 where a ratio is undefined (scikit-learn's
    ``zero_division=0``)."""
    hits = float(((y_pred == label) & (y_true == label)).sum())
    predicted, actual = float((y_pred == label).sum()), float((y_true == label).sum())
    precision = hits / predicted if predicted else 0.0
    recall = hits / actual if actual else 0.0
    both = predicted + actual
    return precision, recall, (2 * hits / both if both else 0.0)


def roc_auc(is_positive: Any, values: Any) -> float:
    """The area under the ROC curve of ``values`` scoring ``is_positive`` (both classes
    present): the Mann-Whitney statistic with tied scores given their average rank."""
    import numpy as np

    order = np.argsort(values, kind="mergesort")
    _, inverse, counts = np.unique(values[order], return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = ((ends - counts + 1 + ends) / 2.0)[inverse]
    positives = int(np.count_nonzero(is_positive))
    negatives = len(values) - positives
    return float(
        (ranks[is_positive].sum() - positives * (positives + 1) / 2.0) / (positives * negatives)
    )


def _class_codes(values: Sequence[Any] | Any, vocabulary: dict[str, int]) -> Any:
    """Each value's class as a code in ``vocabulary`` (grown as classes appear), -1 for a
    missing value; ``class_name`` is applied once per distinct value, not once per row."""
    import numpy as np

    if hasattr(values, "dictionary_encode"):  # a pyarrow array: its distinct values
        array = values.combine_chunks() if hasattr(values, "combine_chunks") else values
        encoded = array.dictionary_encode()
        distinct = encoded.dictionary.to_pylist()
        indices = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False)
    else:
        memo: dict[Any, int] = {}
        distinct = []
        indices = np.asarray(
            [-1 if v is None else memo.setdefault(v, len(memo)) for v in values], np.int64
        )
        distinct = list(memo)
    codes = np.asarray(
        [-1 if v is None else vocabulary.setdefault(class_name(v), len(vocabulary))
         for v in distinct] + [-1],
        np.int64,
    )  # fmt: skip
    return codes[indices]


def _roc_auc(
    is_positive: Any, kept: Any, scores: Any, positive: str | None
) -> tuple[float | None, str]:
    import numpy as np

    if scores is None:
        return None, "no ROC AUC: the log holds no scores (class probabilities)"
    if positive is None:
        return None, "no ROC AUC: more than two classes"
    values = np.asarray(
        [np.nan if s is None else s for s in scores] if isinstance(scores, list) else scores,
        dtype=np.float64,
    )[kept]
    usable = np.isfinite(values)
    truth = is_positive[usable]
    if truth.all() or not truth.any():
        return None, "no ROC AUC: the labels hold one class only"
    return roc_auc(truth.astype(bool), values[usable]), ""


def _regression(predictions: Sequence[Any], labels: Sequence[Any]) -> dict[str, Any]:
    import numpy as np

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
        rmse=float(math.sqrt(np.mean((truth - guess) ** 2))),
        mae=float(np.mean(np.abs(truth - guess))),
    )
    if len(kept) >= 2 and float(np.var(truth)) > 0:
        residual = float(np.sum((truth - guess) ** 2))
        found["r2"] = 1.0 - residual / float(np.sum((truth - truth.mean()) ** 2))
    else:
        found["note"] = "no R²: fewer than two labels, or labels that are all equal"
    return found


def _list(values: Sequence[Any] | Any) -> list[Any]:
    return values.to_pylist() if hasattr(values, "to_pylist") else list(values)
