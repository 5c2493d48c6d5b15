"""Concept drift on a model's error stream: River's detectors, fed in chunks, state kept.

A deployed model's errors — 0/1 for a classifier (:func:`classification_errors`), the
absolute error for a regressor (:func:`regression_errors`), in the order the labels arrive —
are fed to one of River's detectors:

- ``adwin``: :class:`river.drift.ADWIN`, adaptive windowing (any bounded numbers);
- ``page_hinkley``: :class:`river.drift.PageHinkley`, a CUSUM test on the mean;
- ``ddm``: :class:`river.drift.binary.DDM`, the drift detection method (0/1 errors only).

The defaults are River's, except where measured false alarms said otherwise (see
docs/monitoring.md, "Decay"): Page–Hinkley watches increases only (``mode="up"``, decay) and
ignores changes under ``delta=0.05``; DDM waits for ``warm_start=1000`` values and signals at
``drift_threshold=4`` standard deviations. With River's own defaults, on streams without
drift, DDM fired in 22 of 40 streams of 10,000 values and Page–Hinkley in 17 of 40 (error
rate 0.3); with these, none did.

A detector is incremental: :meth:`ErrorStreamDetector.update` takes the next chunk and returns
what it found there, numbered by position in the whole stream. Its state persists as JSON
(:meth:`ErrorStreamDetector.to_state`, :meth:`ErrorStreamDetector.from_state`) rather than as
a pickle (a pickle runs code when loaded, and the state is stored where others can write):
Page–Hinkley's and DDM's state is a handful of numbers, written by name; ADWIN's lives in
River's Rust core, whose own serialisation (plain data, bincode, the bytes River's pickling
uses) is kept base64-encoded with the River version that wrote it. Re-feeding the errors
instead would mean storing every error since the last detection, which grows without bound
on a healthy model.

>>> detector = ErrorStreamDetector("adwin")
>>> found = detector.update([0.0] * 3000 + [1.0] * 200)
>>> [d.index for d in found.detections], found.detections[0].direction
([3039], 'up')
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from loopml.core.errors import BackendUnavailableError, InvalidInputError

__all__ = [
    "DEFAULT_PARAMS",
    "METHODS",
    "Detection",
    "DetectionResult",
    "ErrorStreamDetector",
    "classification_errors",
    "detect",
    "regression_errors",
]

Param = float | int | str
Floats = npt.NDArray[np.float64]
METHODS = ("adwin", "page_hinkley", "ddm")
DEFAULT_PARAMS: Mapping[str, Mapping[str, Param]] = {
    "adwin": {
        "delta": 0.002,
        "clock": 32,
        "max_buckets": 5,
        "min_window_length": 5,
        "grace_period": 10,
    },
    "page_hinkley": {
        "min_instances": 30,
        "delta": 0.05,
        "threshold": 50.0,
        "alpha": 0.9999,
        "mode": "up",
    },
    "ddm": {"warm_start": 1000, "warning_threshold": 2.0, "drift_threshold": 4.0},
}
"""Each method's parameters (River's constructor arguments) and loopml's defaults."""
_STATE_VERSION = 1


@dataclass(frozen=True)
class Detection:
    """A detected change: the position of the error at which it was signalled (0-based, in
    the whole stream), that error's timestamp when given, whether the errors rose (``"up"``,
    decay) or fell, and the mean error since the previous detection (or the start)."""

    index: int
    timestamp: datetime | None
    direction: str
    error_mean_before: float

    def to_dict(self) -> dict[str, Any]:
        stamp = self.timestamp.isoformat() if self.timestamp is not None else None
        return {
            "index": self.index,
            "timestamp": stamp,
            "direction": self.direction,
            "error_mean_before": self.error_mean_before,
        }


@dataclass(frozen=True)
class DetectionResult:
    """What one :meth:`ErrorStreamDetector.update` found, and the detector's state after it.

    ``seen`` counts every error fed so far; ``since_reset`` those since the last detection
    (a detector starts afresh after each), whose mean is ``error_mean``; ``warning`` is DDM's
    warning zone (always False for the others)."""

    method: str
    params: Mapping[str, Param]
    seen: int
    detections: tuple[Detection, ...]
    since_reset: int
    error_mean: float | None
    warning: bool = False
    n_detections: int = 0
    last_detection: Detection | None = None

    @property
    def decayed(self) -> bool:
        """Whether this chunk held a detection where the errors rose."""
        return any(d.direction == "up" for d in self.detections)

    def to_dict(self) -> dict[str, Any]:
        last = self.last_detection.to_dict() if self.last_detection else None
        return {
            "method": self.method,
            "params": dict(self.params),
            "seen": self.seen,
            "detections": [d.to_dict() for d in self.detections],
            "decayed": self.decayed,
            "since_reset": self.since_reset,
            "error_mean": self.error_mean,
            "warning": self.warning,
            "n_detections": self.n_detections,
            "last_detection": last,
        }


def classification_errors(y_true: npt.ArrayLike, y_pred: npt.ArrayLike) -> Floats:
    """1.0 where a prediction is wrong, 0.0 where it is right (labels compared as given)."""
    truth, predicted = _pair("classification_errors", y_true, y_pred)
    wrong: Floats = (truth != predicted).astype(np.float64)
    return wrong


def regression_errors(y_true: npt.ArrayLike, y_pred: npt.ArrayLike) -> Floats:
    """The absolute errors ``|y_true − y_pred|`` (numbers; NaN refused)."""
    truth, predicted = _pair("regression_errors", y_true, y_pred)
    try:
        errors: Floats = np.abs(truth.astype(np.float64) - predicted.astype(np.float64))
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"regression_errors needs numbers: {exc}") from exc
    if not np.isfinite(errors).all():
        raise InvalidInputError("regression_errors needs finite numbers; got NaN or infinity.")
    return errors


def detect(
    errors: npt.ArrayLike,
    method: str = "adwin",
    params: Mapping[str, Param] | None = None,
    timestamps: Sequence[datetime] | None = None,
) -> DetectionResult:
    """Run one detector over a whole error stream (a fresh :class:`ErrorStreamDetector`)."""
    return ErrorStreamDetector(method, params).update(errors, timestamps)


class ErrorStreamDetector:
    """One River detector over one error stream, fed chunk by chunk.

    ``params`` override :data:`DEFAULT_PARAMS` of ``method``; an unknown name is an error.
    """

    def __init__(self, method: str = "adwin", params: Mapping[str, Param] | None = None) -> None:
        if method not in METHODS:
            raise InvalidInputError(
                f"Unknown drift detector {method!r}; the detectors are {', '.join(METHODS)}."
            )
        self.method = method
        self.params: dict[str, Param] = {**DEFAULT_PARAMS[method], **_checked(method, params)}
        self._river = _build(method, self.params)
        self.seen = 0
        self.n_detections = 0
        self.last_detection: Detection | None = None
        self._count = 0  # errors since the last reset, and their sum
        self._sum = 0.0

    def update(
        self, errors: npt.ArrayLike, timestamps: Sequence[datetime] | None = None
    ) -> DetectionResult:
        """Feed the next errors (in arrival order); what was detected among them."""
        values = _errors(self.method, errors)
        if timestamps is not None and len(timestamps) != len(values):
            raise InvalidInputError(
                f"update got {len(values)} errors but {len(timestamps)} timestamps; give one "
                "timestamp per error, or none."
            )
        found: list[Detection] = []
        river, update = self._river, self._river.update
        detected, count, total = bool(river.drift_detected), self._count, self._sum
        for position, value in enumerate(values.tolist()):
            if detected:  # River starts afresh on the next value; so do our sums
                count, total = 0, 0.0
            update(value)
            count += 1
            total += value
            detected = river.drift_detected
            if detected:
                stamp = timestamps[position] if timestamps is not None else None
                found.append(
                    Detection(
                        index=self.seen + position,
                        timestamp=stamp,
                        direction=self._direction(total / count),
                        error_mean_before=total / count,
                    )
                )
        self._count, self._sum = count, total
        self.seen += len(values)
        self.n_detections += len(found)
        if found:
            self.last_detection = found[-1]
        return self._result(tuple(found))

    def _direction(self, mean_since_reset: float) -> str:
        river: Any = self._river
        if self.method == "ddm":
            return "up"
        if self.method == "adwin":  # ADWIN kept only the recent sub-window: its mean is "after"
            return "up" if river.estimation > mean_since_reset else "down"
        rise = river._sum_increase - river._min_increase
        return "up" if rise > float(self.params["threshold"]) else "down"

    def _result(self, found: tuple[Detection, ...]) -> DetectionResult:
        reset = bool(self._river.drift_detected)
        count = 0 if reset else self._count
        return DetectionResult(
            method=self.method,
            params=dict(self.params),
            seen=self.seen,
            detections=found,
            since_reset=count,
            error_mean=(self._sum / count) if count else None,
            warning=bool(getattr(self._river, "warning_detected", False)),
            n_detections=self.n_detections,
            last_detection=self.last_detection,
        )

    def status(self) -> DetectionResult:
        """The detector's state now, with no new detections."""
        return self._result(())

    def to_state(self) -> dict[str, Any]:
        """The whole state as JSON-ready data (see the module's docstring for why not pickle)."""
        from loopml.monitoring import _river_state

        last = self.last_detection.to_dict() if self.last_detection else None
        return {
            "version": _STATE_VERSION,
            "method": self.method,
            "params": dict(self.params),
            "seen": self.seen,
            "n_detections": self.n_detections,
            "last_detection": last,
            "count": self._count,
            "sum": self._sum,
            "river_version": _river_state.river_version(),
            "detector": _river_state.dump(self.method, self._river),
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> ErrorStreamDetector:
        """A detector that continues where the one that wrote ``state`` stopped."""
        from loopml.monitoring import _river_state

        if not isinstance(state, Mapping) or state.get("version") != _STATE_VERSION:
            raise InvalidInputError(
                f"Not a detector state of version {_STATE_VERSION}: write it with "
                "ErrorStreamDetector.to_state()."
            )
        try:
            detector = cls(str(state["method"]), state["params"])
            detector.seen = int(state["seen"])
            detector.n_detections = int(state["n_detections"])
            detector._count = int(state["count"])
            detector._sum = float(state["sum"])
            last = state["last_detection"]
            if last is not None:
                stamp = last["timestamp"]
                detector.last_detection = Detection(
                    index=int(last["index"]),
                    timestamp=datetime.fromisoformat(stamp) if stamp else None,
                    direction=str(last["direction"]),
                    error_mean_before=float(last["error_mean_before"]),
                )
            _river_state.load(
                detector.method, detector._river, state["detector"], str(state["river_version"])
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInputError(f"A malformed detector state: {exc!r}.") from exc
        return detector


def _checked(method: str, params: Mapping[str, Param] | None) -> dict[str, Param]:
    given = dict(params or {})
    allowed = DEFAULT_PARAMS[method]
    for name, value in given.items():
        if name not in allowed:
            raise InvalidInputError(
                f"{method} has no parameter {name!r}; its parameters are {', '.join(allowed)}."
            )
        default = allowed[name]
        if isinstance(default, str) != isinstance(value, str) or isinstance(value, bool):
            raise InvalidInputError(
                f"The parameter {name!r} of {method} must be a {type(default).__name__}. "
                f"Got {value!r} instead."
            )
        if isinstance(default, int) and not isinstance(value, int):
            raise InvalidInputError(
                f"The parameter {name!r} of {method} must be an integer. Got {value!r} instead."
            )
    return given


def _build(method: str, params: Mapping[str, Param]) -> Any:
    try:
        from river import drift
    except ImportError as exc:
        raise BackendUnavailableError(
            "Concept-drift detectors need River, which is not installed: "
            "pip install 'loopml[monitor]'."
        ) from exc
    factory: Any = {
        "adwin": drift.ADWIN,
        "page_hinkley": drift.PageHinkley,
        "ddm": drift.binary.DDM,
    }[method]
    try:
        return factory(**params)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"{method} refused its parameters {dict(params)}: {exc}") from exc


def _errors(method: str, errors: npt.ArrayLike) -> Floats:
    try:
        values = np.asarray(errors, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"An error stream holds numbers: {exc}") from exc
    if not np.isfinite(values).all():
        raise InvalidInputError("An error stream holds finite numbers; got NaN or infinity.")
    if method == "ddm" and not np.isin(values, (0.0, 1.0)).all():
        raise InvalidInputError(
            "ddm watches 0/1 errors (a classifier's); for other errors use adwin or page_hinkley."
        )
    return values


def _pair(name: str, y_true: npt.ArrayLike, y_pred: npt.ArrayLike) -> tuple[Any, Any]:
    truth, predicted = np.asarray(y_true).reshape(-1), np.asarray(y_pred).reshape(-1)
    if len(truth) != len(predicted):
        raise InvalidInputError(
            f"{name} got {len(truth)} labels and {len(predicted)} predictions; they pair up "
            "one to one."
        )
    return truth, predicted
