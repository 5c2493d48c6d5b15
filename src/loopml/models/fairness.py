"""Fairness of a classifier's predictions by group, with Fairlearn's ``MetricFrame``.

For each group of rows (one value of a sensitive column, or one combination of values of
several): the selection rate (share predicted positive), the true and false positive rates
and the accuracy; over the groups, the demographic parity difference (largest gap in
selection rate) and the equalized odds difference (the larger of the largest gaps in TPR and
in FPR), and their ratios. The numbers are Fairlearn's own.

Real tables: labels may be strings (``positive`` names the class that counts as selected; a
binary classifier's default is the later of its two labels, as the gate's metrics take it);
a missing sensitive value is a group of its own, ``(missing)``; rows without a label are left
out and counted.

>>> report = fairness_report(y, predicted, {"sex": sex})  # doctest: +SKIP
>>> report.differences["demographic_parity_difference"]  # doctest: +SKIP
0.21
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from loopml.core.errors import BackendUnavailableError, InvalidInputError

if TYPE_CHECKING:
    import pyarrow as pa

    from loopml.tracking.client import Client

__all__ = [
    "FAIRNESS_METRICS",
    "GROUP_METRICS",
    "MISSING_GROUP",
    "FairnessReport",
    "fairness_report",
    "version_fairness",
]

MISSING_GROUP = "(missing)"
GROUP_METRICS = ("selection_rate", "true_positive_rate", "false_positive_rate", "accuracy")
# the summary numbers, and whether a larger one is fairer (differences: smaller is fairer)
FAIRNESS_METRICS: Mapping[str, bool] = {
    "demographic_parity_difference": False,
    "demographic_parity_ratio": True,
    "equalized_odds_difference": False,
    "equalized_odds_ratio": True,
}
FAIRLEARN_HINT = "pip install 'loopml[explain]'"


@dataclass(frozen=True)
class FairnessReport:
    """Per-group metrics and the differences between groups."""

    sensitive: tuple[str, ...]
    positive: Any
    rows: int
    groups: list[dict[str, Any]]  # {"group": {column: value}, "rows": n, metric: value, ...}
    overall: dict[str, float | None]
    differences: dict[str, float | None]  # FAIRNESS_METRICS → value
    dropped: int = 0  # rows without a label
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "sensitive": list(self.sensitive),
            "positive": _plain(self.positive),
            "rows": self.rows,
            "dropped_without_label": self.dropped,
            "overall": self.overall,
            **self.differences,
            "groups": self.groups,
            "notes": self.notes,
        }

    def group_values(self, metric: str) -> str:
        """``F 0.31, M 0.52``: one metric of every group, for a message."""
        return ", ".join(
            f"{'/'.join(str(v) for v in g['group'].values())} {_short(g[metric])}"
            for g in self.groups
        )


def fairness_report(
    labels: Sequence[Any] | np.ndarray,
    predictions: Sequence[Any] | np.ndarray,
    sensitive: Mapping[str, Sequence[Any] | np.ndarray],
    *,
    positive: Any = None,
    classes: Sequence[Any] | None = None,
) -> FairnessReport:
    """The report for ``predictions`` against the true ``labels``, grouped by the
    ``sensitive`` columns (name → one value per row). ``positive``: the class that counts
    as selected (required for more than two classes); ``classes``: the model's classes."""
    metrics = _fairlearn()
    y = np.asarray(labels, dtype=object)
    predicted = np.asarray(predictions, dtype=object)
    if not sensitive:
        raise InvalidInputError("Name at least one sensitive column.")
    keep = np.array([not _missing(value) for value in y], dtype=bool)
    dropped = int((~keep).sum())
    y, predicted = y[keep], predicted[keep]
    if len(y) == 0:
        raise InvalidInputError("No row has a label, so nothing can be measured.")
    known = list(classes) if classes is not None else sorted({*y.tolist(), *predicted.tolist()})
    chosen = _positive(positive, known)
    truth = np.array([_same(v, chosen) for v in y], dtype=int)
    guess = np.array([_same(v, chosen) for v in predicted], dtype=int)
    groups = _group_frame(sensitive, keep)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # undefined rates in a group come back as NaN
        rates = metrics.MetricFrame(
            metrics={
                "selection_rate": metrics.selection_rate,
                "true_positive_rate": metrics.true_positive_rate,
                "false_positive_rate": metrics.false_positive_rate,
            },
            y_true=truth,
            y_pred=guess,
            sensitive_features=groups,
        )
        accuracy = metrics.MetricFrame(
            metrics={"accuracy": _accuracy},
            y_true=y.astype(str),
            y_pred=predicted.astype(str),
            sensitive_features=groups,
        )
        differences = {
            "demographic_parity_difference": metrics.demographic_parity_difference(
                truth, guess, sensitive_features=groups
            ),
            "demographic_parity_ratio": metrics.demographic_parity_ratio(
                truth, guess, sensitive_features=groups
            ),
            "equalized_odds_difference": metrics.equalized_odds_difference(
                truth, guess, sensitive_features=groups
            ),
            "equalized_odds_ratio": metrics.equalized_odds_ratio(
                truth, guess, sensitive_features=groups
            ),
        }
    by_group = rates.by_group.join(accuracy.by_group)
    counts = groups.value_counts()
    rows = []
    for key, values in by_group.iterrows():
        parts = key if isinstance(key, tuple) else (key,)
        entry: dict[str, Any] = {"group": dict(zip(groups.columns, parts, strict=True))}
        entry["rows"] = int(counts.get(tuple(parts), 0))
        if not entry["rows"]:
            continue  # a combination of values no row has
        entry.update({name: _number(values[name]) for name in GROUP_METRICS})
        rows.append(entry)
    overall = {**rates.overall.to_dict(), **accuracy.overall.to_dict()}
    notes = [f"{dropped} rows without a label left out"] if dropped else []
    return FairnessReport(
        sensitive=tuple(groups.columns),
        positive=chosen,
        rows=len(y),
        groups=rows,
        overall={name: _number(overall[name]) for name in GROUP_METRICS},
        differences={name: _number(value) for name, value in differences.items()},
        dropped=dropped,
        notes=notes,
    )


def version_fairness(
    ref: str,
    table: pa.Table,
    *,
    target: str,
    sensitive: Sequence[str],
    positive: Any = None,
    source: str = "the data",
    trust_code: bool = False,
    prefer_onnx: bool = True,
    client: Client | None = None,
) -> tuple[str, FairnessReport]:
    """The version ``ref`` names ("NAME@N") and its report on ``table``, whose ``target``
    column holds the true labels; it is scored as predict, serve and gate score it."""
    from loopml.models.inputs import to_model_input
    from loopml.models.registry import open_preferred, resolve
    from loopml.tracking.client import client_scope

    for name in (target, *sensitive):
        if name not in table.column_names:
            what = "--target" if name == target else "--sensitive"
            raise InvalidInputError(
                f"{what}: {source} has no column {name!r}; its columns: "
                f"{', '.join(table.column_names)}."
            )
    with client_scope(client, create=False) as active:
        version = resolve(ref, active)
        opened = open_preferred(version, active, prefer_onnx=prefer_onnx, trust_code=trust_code)
    features = to_model_input(version.signature, table, exclude=(target,), source=source)
    predictions = np.asarray(opened.model.predict(features))
    if predictions.ndim == 2 and predictions.shape[1] == 1:
        predictions = predictions[:, 0]
    report = fairness_report(
        table.column(target).to_pylist(),
        predictions,
        {name: table.column(name).to_pylist() for name in sensitive},
        positive=positive,
        classes=opened.classes,
    )
    return f"{version.model}@{version.version}", report


def _fairlearn() -> Any:
    try:
        import fairlearn.metrics
    except ImportError as exc:
        raise BackendUnavailableError(
            f"Fairness reports need Fairlearn, which is not installed ({exc.name}); "
            f"{FAIRLEARN_HINT}."
        ) from exc
    return fairlearn.metrics


def _accuracy(y_true: Any, y_pred: Any) -> float:
    return float(np.mean(np.asarray(y_true) == np.asarray(y_pred)))


def _group_frame(sensitive: Mapping[str, Sequence[Any] | np.ndarray], keep: np.ndarray) -> Any:
    import pandas as pd  # type: ignore[import-untyped,import-not-found,unused-ignore]

    columns = {}
    for name, values in sensitive.items():
        column = np.asarray(values, dtype=object)
        if len(column) != len(keep):
            raise InvalidInputError(
                f"Sensitive column {name!r} has {len(column)} values for {len(keep)} rows."
            )
        columns[name] = [MISSING_GROUP if _missing(v) else str(v) for v in column[keep]]
    return pd.DataFrame(columns)


def _positive(positive: Any, classes: list[Any]) -> Any:
    """The class that counts as selected: ``positive`` (matched as text too: the command
    line gives text), else the later of two classes."""
    if positive is not None:
        for label in classes:
            if label == positive or str(label) == str(positive):
                return label
        raise InvalidInputError(
            f"positive: {positive!r} is not one of the classes: "
            + ", ".join(str(c) for c in classes)
            + "."
        )
    if len(classes) > 2:
        raise InvalidInputError(
            f"The model has {len(classes)} classes ({', '.join(str(c) for c in classes[:10])}); "
            "name the one that counts as selected (--positive, or 'positive:' in a policy)."
        )
    return classes[-1]


def _same(value: Any, positive: Any) -> bool:
    return bool(value == positive or str(value) == str(positive))


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))


def _number(value: Any) -> float | None:
    number = float(value)
    return None if np.isnan(number) or np.isinf(number) else number


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def _short(value: float | None) -> str:
    return "—" if value is None else f"{value:.3g}"
