"""Performance before labels arrive: confidence-based performance estimation (CBPE).

As NannyML's CBPE does: on a labelled **reference** (held-out data the model was judged on),
fit an isotonic calibration of the model's scores (scikit-learn's ``IsotonicRegression``),
so a calibrated score is the probability that the row is of the class. On an unlabelled
chunk, each prediction is then right with a known probability, and the metrics' expected
values follow: accuracy is the mean probability that the predicted class is the true one;
the confusion matrix's expected counts give precision, recall and F1; ROC AUC is the area
under the curve of expected true and false positive rates over the thresholds of the raw
scores. Each estimate comes with its standard error — how far the realised value is
expected to fall from it by chance in a chunk of this size, if the calibration still holds
(accuracy and precision: exactly, a sum of independent Bernoulli trials; recall and F1: the
delta method; ROC AUC: Hanley and McNeil's formula at the expected class counts). When the
labels come, :func:`compare_with_realised` puts each estimate beside the realised value.

Binary scores are the probability of the positive class (a 1-D array); multiclass scores are
a 2-D array of per-class probabilities (columns in ``classes`` order), each class calibrated
one-vs-rest and the rows renormalised, as NannyML does; there the metrics are macro averages.
A fitted estimator is plain numbers (:meth:`CBPE.to_dict`): the calibration curves, applied
with NumPy, so estimating needs neither scikit-learn nor a pickle.

The estimate is only as good as the calibration: it sees decay caused by covariate shift
(inputs moving to where the model is less sure), not a changed relation between inputs and
labels (concept drift), which only labels reveal (:mod:`.concept_drift`).

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> scores = rng.random(2000)
>>> labels = (rng.random(2000) < scores).astype(int)  # calibrated scores
>>> estimator = fit_cbpe(labels, scores)
>>> estimate = estimator.estimate(rng.random(1000))
>>> round(estimate["accuracy"].value, 2), round(estimate["accuracy"].standard_error, 3)
(0.76, 0.012)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import numpy as np
import numpy.typing as npt

from loopml.core.errors import BackendUnavailableError, InvalidInputError
from loopml.monitoring import _cbpe_metrics as metrics

__all__ = [
    "CBPE",
    "METRICS",
    "EstimateError",
    "MetricEstimate",
    "PerformanceEstimate",
    "compare_with_realised",
    "fit_cbpe",
    "predicted_probabilities",
    "realised_performance",
]

Floats = npt.NDArray[np.float64]
METRICS = metrics.METRICS


@dataclass(frozen=True)
class MetricEstimate:
    """One estimated metric and its standard error."""

    metric: str
    value: float
    standard_error: float

    def interval(self, z: float = 1.96) -> tuple[float, float]:
        """``value ± z`` standard errors, clipped to [0, 1] (95% for the default z)."""
        return max(0.0, self.value - z * self.standard_error), min(
            1.0, self.value + z * self.standard_error
        )

    def to_dict(self) -> dict[str, Any]:
        return {"metric": self.metric, "value": self.value, "standard_error": self.standard_error}


@dataclass(frozen=True)
class PerformanceEstimate:
    """The estimated metrics of one unlabelled chunk of ``rows`` predictions."""

    rows: int
    metrics: Mapping[str, MetricEstimate]

    def __getitem__(self, metric: str) -> MetricEstimate:
        return self.metrics[metric]

    def to_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "metrics": {k: v.to_dict() for k, v in self.metrics.items()}}


@dataclass(frozen=True)
class EstimateError:
    """An estimate beside the realised value: ``error = estimated − realised`` and ``z``,
    the error in standard errors (|z| above 2 is seen about 1 time in 20 by chance)."""

    metric: str
    estimated: float
    realised: float
    standard_error: float

    @property
    def error(self) -> float:
        return self.estimated - self.realised

    @property
    def z(self) -> float:
        return self.error / self.standard_error if self.standard_error > 0 else float("nan")

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "estimated": self.estimated,
            "realised": self.realised,
            "standard_error": self.standard_error,
            "error": self.error,
            "z": self.z,
        }


@dataclass(frozen=True)
class CBPE:
    """A fitted estimator: per class, the isotonic calibration curve (``x`` → ``y``, applied
    by linear interpolation, clipped at the ends, as scikit-learn's ``predict`` does); for a
    binary model, the threshold that turns a score into a predicted positive."""

    classes: tuple[str, ...]
    curves: tuple[tuple[tuple[float, ...], tuple[float, ...]], ...]
    threshold: float = 0.5

    @property
    def multiclass(self) -> bool:
        return len(self.classes) > 2

    def calibrate(self, scores: npt.ArrayLike) -> Floats:
        """Calibrated probabilities of ``scores`` (same shape; rows renormalised if 2-D)."""
        raw = _scores(scores, len(self.classes))
        if not self.multiclass:
            return _apply(self.curves[0], raw)
        columns = np.column_stack([_apply(c, raw[:, k]) for k, c in enumerate(self.curves)])
        totals = columns.sum(axis=1, keepdims=True)
        even = np.full_like(columns, 1.0 / len(self.classes))
        out: Floats = np.divide(columns, totals, out=even, where=totals > 0)
        return out

    def predicted(self, scores: npt.ArrayLike) -> npt.NDArray[np.int64]:
        """The predicted class of each row, as an index into ``classes``."""
        raw = _scores(scores, len(self.classes))
        if not self.multiclass:
            return (raw >= self.threshold).astype(np.int64)
        out: npt.NDArray[np.int64] = np.argmax(raw, axis=1).astype(np.int64)
        return out

    def estimate(self, scores: npt.ArrayLike) -> PerformanceEstimate:
        """The expected metrics of an unlabelled chunk from the model's scores alone."""
        raw = _scores(scores, len(self.classes))
        calibrated, predicted = self.calibrate(raw), self.predicted(raw)
        found = (
            metrics.estimate_multiclass(raw, calibrated, predicted)
            if self.multiclass
            else metrics.estimate_binary(raw, calibrated, predicted)
        )
        return PerformanceEstimate(
            rows=len(raw),
            metrics={name: MetricEstimate(name, value, se) for name, (value, se) in found.items()},
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "classes": list(self.classes),
            "threshold": self.threshold,
            "curves": [{"x": list(x), "y": list(y)} for x, y in self.curves],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CBPE:
        try:
            curves = tuple(
                (tuple(float(v) for v in c["x"]), tuple(float(v) for v in c["y"]))
                for c in data["curves"]
            )
            classes = tuple(str(c) for c in data["classes"])
            threshold = float(data["threshold"])
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInputError(f"A malformed CBPE estimator: {exc!r}.") from exc
        wanted = 1 if len(classes) == 2 else len(classes)
        if len(classes) < 2 or len(curves) != wanted:
            raise InvalidInputError(
                f"A malformed CBPE estimator: {len(classes)} classes need {wanted} calibration "
                f"curves; it has {len(curves)}."
            )
        for x, y in curves:
            if not x or len(x) != len(y) or any(b < a for a, b in pairwise(x)):
                raise InvalidInputError(
                    "A malformed CBPE estimator: a calibration curve needs as many x as y "
                    "values, x ascending."
                )
        return cls(classes, curves, threshold)


def fit_cbpe(
    y_true: npt.ArrayLike,
    scores: npt.ArrayLike,
    *,
    classes: Sequence[object] | None = None,
    threshold: float = 0.5,
) -> CBPE:
    """Fit the calibration on a labelled reference: its true labels and the model's scores.

    Binary: ``scores`` are the positive class's probabilities and ``y_true`` is 0/1 (or
    ``classes`` names the negative and the positive label); a score at or above ``threshold``
    is a predicted positive. Multiclass: ``scores`` has one column per class of ``classes``
    (the order of the model's ``classes_``; by default the sorted labels).
    """
    try:
        from sklearn.isotonic import IsotonicRegression  # type: ignore[import-untyped]
    except ImportError as exc:
        raise BackendUnavailableError(
            "Fitting CBPE's calibration needs scikit-learn: pip install 'loopml[sklearn]'."
        ) from exc

    truth = np.asarray(y_true).reshape(-1)
    raw = np.asarray(scores)
    width = raw.shape[1] if raw.ndim == 2 else 2
    names = list(classes) if classes is not None else _default_classes(truth, width)
    if len(names) != width:
        raise InvalidInputError(
            f"fit_cbpe got scores for {width} classes but {len(names)} class names."
        )
    raw = _scores(raw, width)
    if len(truth) != len(raw):
        raise InvalidInputError(f"fit_cbpe got {len(truth)} labels for {len(raw)} score rows.")
    if not 0 < threshold < 1:
        raise InvalidInputError(f"The threshold must be between 0 and 1. Got {threshold}.")
    coded = _coded(truth, [_label_key(name) for name in names])
    columns = [raw] if width == 2 else [raw[:, k] for k in range(width)]
    targets = [coded == 1] if width == 2 else [coded == k for k in range(width)]
    curves = []
    for column, target in zip(columns, targets, strict=True):
        if target.all() or not target.any():
            raise InvalidInputError(
                "The reference needs rows of every class to calibrate on; one class is missing."
            )
        model = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
        model.fit(column, target.astype(np.float64))
        curves.append((tuple(model.X_thresholds_.tolist()), tuple(model.y_thresholds_.tolist())))
    return CBPE(tuple(_label_key(n) for n in names), tuple(curves), threshold)


def realised_performance(
    estimator: CBPE, y_true: npt.ArrayLike, scores: npt.ArrayLike
) -> dict[str, float]:
    """The metrics once the labels are known, on the same predictions (raw scores)."""
    raw = _scores(scores, len(estimator.classes))
    truth = np.asarray(y_true).reshape(-1)
    if len(truth) != len(raw):
        raise InvalidInputError(f"Got {len(truth)} labels for {len(raw)} score rows.")
    coded = _coded(truth, list(estimator.classes))
    predicted = estimator.predicted(raw)
    if estimator.multiclass:
        return metrics.realised_multiclass(raw, coded, predicted)
    return metrics.realised_binary(raw, coded, predicted)


def compare_with_realised(
    estimate: PerformanceEstimate, realised: Mapping[str, float]
) -> dict[str, EstimateError]:
    """Each metric's estimate beside its realised value (metrics realised on one class only,
    such as ROC AUC on a chunk of negatives, are NaN and left out)."""
    return {
        name: EstimateError(name, found.value, realised[name], found.standard_error)
        for name, found in estimate.metrics.items()
        if name in realised and np.isfinite(realised[name])
    }


def predicted_probabilities(model: object, features: Any) -> Floats:
    """The model's class probabilities for ``features`` — ``predict_proba``, the positive
    class's column for a binary model — or a clear error for a model without them."""
    predict_proba = getattr(model, "predict_proba", None)
    if not callable(predict_proba):
        raise InvalidInputError(
            f"Estimating performance before labels needs class probabilities, and "
            f"{type(model).__name__} has no predict_proba (a regressor, or a classifier "
            "without probabilities, such as scikit-learn's SVC without probability=True)."
        )
    try:
        probabilities = np.asarray(predict_proba(features), dtype=np.float64)
    except AttributeError as exc:  # scikit-learn hides predict_proba behind a property
        raise InvalidInputError(
            f"{type(model).__name__} gives no class probabilities: {exc}"
        ) from exc
    if probabilities.ndim == 2 and probabilities.shape[1] == 2:
        positive: Floats = probabilities[:, 1]
        return positive
    return probabilities


def _coded(truth: npt.NDArray[Any], classes: list[str]) -> npt.NDArray[np.int64]:
    """Each label's index in ``classes`` (names from :func:`_label_key`)."""
    uniques, inverse = np.unique(truth, return_inverse=True)
    index = {name: k for k, name in enumerate(classes)}
    keys = [_label_key(v) for v in uniques.tolist()]
    unknown = [key for key in keys if key not in index]
    if unknown:
        raise InvalidInputError(
            f"Got labels {unknown[:5]} that are not among the classes {classes}."
        )
    codes = np.array([index[key] for key in keys], dtype=np.int64)
    out: npt.NDArray[np.int64] = codes[inverse.reshape(-1)]
    return out


def _label_key(label: object) -> str:
    """A label as the estimator names it: 1, 1.0 and True are all "1"."""
    if isinstance(label, bool | int | float | np.number) and float(label).is_integer():
        return str(int(label))
    return str(label)


def _default_classes(truth: npt.NDArray[Any], width: int) -> list[object]:
    if width == 2:
        return [0, 1]
    return sorted(set(truth.tolist()), key=str)


def _scores(scores: npt.ArrayLike, width: int) -> Floats:
    try:
        raw = np.asarray(scores, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"Scores are probabilities (numbers): {exc}") from exc
    expected = "a 1-D array of the positive class's" if width == 2 else f"{width} columns of"
    if (width == 2 and raw.ndim != 1) or (width > 2 and (raw.ndim != 2 or raw.shape[1] != width)):
        raise InvalidInputError(
            f"Scores must be {expected} probabilities. Got shape {raw.shape} instead."
        )
    if len(raw) == 0:
        raise InvalidInputError("There are no scores to estimate from: the chunk is empty.")
    if not np.isfinite(raw).all() or raw.min() < 0 or raw.max() > 1:
        raise InvalidInputError(
            "Scores must be probabilities between 0 and 1 (predict_proba's), not labels or "
            "decision-function margins."
        )
    if len(raw) >= 20 and len(np.unique(raw)) <= width:
        raise InvalidInputError(
            "The scores take only as many values as there are classes: they look like "
            "predicted labels, not probabilities. CBPE needs the model's probabilities."
        )
    return raw


def _apply(curve: tuple[Sequence[float], Sequence[float]], values: Floats) -> Floats:
    x, y = curve
    out: Floats = np.interp(values, np.asarray(x), np.asarray(y))
    return out
