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
    predictions: Sequence[Any] | Any,
    labels: Sequence[Any] | Any,
    task: str,
    scores: Sequence[float | None] | Any | None = None,
) -> dict[str, Any]:
    """The metrics of ``predictions`` against ``labels`` (pairs, in order; sequences or
    pyarrow arrays, which are classified once per distinct value): ``task``,
    ``labelled`` (pairs compared) and the task's metrics, None where they cannot be computed
    (``note`` says why). Classes match however they were sent (``1``, ``1.0``, ``"1"``).
    Needs scikit-learn (``pip install 'loopml[sklearn]'``): without it, the metrics are None."""
    try:
        import sklearn.metrics  # type: ignore[import-untyped]  # noqa: F401
    except ImportError:
        return {
            "task": task,
            "labelled": sum(label is not None for label in _list(labels)),
            "note": "no metrics: scikit-learn is not installed (pip install 'loopml[sklearn]')",
        }
    if task == CLASSIFICATION:
        return _classification(predictions, labels, scores)
    return _regression(predictions, labels)


def _classification(
    predictions: Sequence[Any] | Any, labels: Sequence[Any] | Any, scores: Any
) -> dict[str, Any]:
    import numpy as np
    from sklearn.metrics import accuracy_score, precision_recall_fscore_support

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
    average = "binary" if positive is not None else "macro"
    precision, recall, f1, _ = precision_recall_fscore_support(
        y_true,
        y_pred,
        average=average,
        pos_label=vocabulary.get(positive or "", 1),
        zero_division=0,
    )
    found.update(
        accuracy=float(accuracy_score(y_true, y_pred)),
        precision=float(precision),
        recall=float(recall),
        f1=float(f1),
        average=f"binary (positive class {positive})" if positive else "macro",
    )
    is_positive = y_true == vocabulary.get(positive or "", -2)
    found["roc_auc"], found["note"] = _roc_auc(is_positive, kept, scores, positive)
    return found


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
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(truth, values[usable])), ""


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


def _list(values: Sequence[Any] | Any) -> list[Any]:
    return values.to_pylist() if hasattr(values, "to_pylist") else list(values)
