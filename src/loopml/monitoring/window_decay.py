"""Decay seen by labels, per window: a River detector (:mod:`.concept_drift`) over a version's
error stream, fed incrementally across reports.

The stream is the version's labelled predictions in the order their labels arrived (label
time, then prediction id): 0/1 errors for a classifier (prediction and label name different
classes), absolute errors for a regressor. Each report feeds only the labels that arrived
after the last one it fed (the *watermark*), then keeps the detector's state as JSON beside
the part summaries (``decay/<version>.<model digest>.<method>.json``, with the watermark and
the detections so far), so a long-running deployment never re-reads its history.

A detection belongs to the window of the prediction whose error set it off; that window's
``concept_drift`` says ``decayed`` and the signal ``concept_drift`` is 1 there. The detector
is ADWIN (``DEFAULT_METHOD``): on a measured stream with a known drift point it fired soonest
after it of the three (docs/monitoring.md, "Decay"), and never before it.

Labels of predictions the reports never covered are not fed; a label that reaches the log
after a later one was fed (a feedback part stored late by another worker) is behind the
watermark and skipped.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from loopml.core.errors import LoopMLError
from loopml.core.ids import format_ms
from loopml.monitoring.concept_drift import ErrorStreamDetector
from loopml.monitoring.label_scores import CLASSIFICATION, number_of
from loopml.monitoring.part_summaries import SummaryCache
from loopml.monitoring.window_estimates import class_names

if TYPE_CHECKING:
    from loopml.monitoring.windows import Window

__all__ = ["DEFAULT_METHOD", "detect_decay", "error_stream"]

DEFAULT_METHOD = "adwin"
FORMAT = 1
KEPT_DETECTIONS = 1_000


def error_stream(labelled: Any, task: str) -> tuple[Any, Any]:
    """``labelled`` (pairs of one version) in label-arrival order, and their errors: the rows
    kept (a regressor's rows whose prediction or label is not a number are dropped)."""
    import numpy as np
    import pyarrow as pa

    ordered = labelled.sort_by([("label_time", "ascending"), ("prediction_id", "ascending")])
    if task == CLASSIFICATION:
        truth, guess = class_names(ordered["label"]), class_names(ordered["prediction"])
        return ordered, (truth != guess).astype(np.float64)
    truth = np.asarray([number_of(v) for v in ordered["label"].to_pylist()], dtype=float)
    guess = np.asarray([number_of(v) for v in ordered["prediction"].to_pylist()], dtype=float)
    usable = np.isfinite(truth) & np.isfinite(guess)
    return ordered.filter(pa.array(usable)), np.abs(guess - truth)[usable]


def detect_decay(
    windows: Sequence[Window],
    labelled: Any,
    task: str,
    *,
    cache: SummaryCache,
    identity: str | None,
    method: str = DEFAULT_METHOD,
) -> None:
    """Feed the labels of ``windows``' version that arrived since the last report to its
    detector, then fill each window's ``concept_drift``."""
    import numpy as np

    version = windows[0].model_version
    path = None
    detector = ErrorStreamDetector(method)
    watermark: tuple[int, str] | None = None
    detections: list[dict[str, Any]] = []
    if identity is not None:
        name = f"{version.replace('@', '.')}.{identity.replace(':', '-')[:40]}.{method}.json"
        path = cache.folder / "decay" / name
        kept = _load(path)
        if kept is not None:
            detector, watermark, detections = kept

    ordered, errors = error_stream(labelled, task)
    label_times = _millis(ordered["label_time"])
    ids = ordered["prediction_id"].to_pylist()
    pairs = zip(label_times.tolist(), ids, strict=True)
    fresh = np.asarray([watermark is None or (t, p) > watermark for t, p in pairs], dtype=bool)
    if fresh.any():
        start = int(np.flatnonzero(fresh)[0])  # ordered: every later row is fresh too
        seen_before = detector.seen
        result = detector.update(errors[start:])
        moments = _millis(ordered["time"])
        for found in result.detections:
            row = start + found.index - seen_before
            detections.append(
                {
                    "index": found.index,
                    "direction": found.direction,
                    "time_ms": int(moments[row]),
                    "label_time_ms": int(label_times[row]),
                    "error_mean_before": found.error_mean_before,
                }
            )
        detections = detections[-KEPT_DETECTIONS:]
        watermark = (int(label_times[-1]), str(ids[-1]))
        if path is not None:
            _save(cache, path, detector, watermark, detections)
    status = detector.status()
    moments = _millis(labelled["time"])
    for window in windows:
        inside = (moments >= window.start_ms) & (moments < window.end_ms)
        mine = [d for d in detections if window.start_ms <= d["time_ms"] < window.end_ms]
        window_errors = _window_errors(labelled, inside, task)
        if not mine and window_errors is None:
            continue
        window.checks.concept_drift = {
            "detector": method,
            "decayed": any(d["direction"] == "up" for d in mine),
            "detections": [
                {**d, "time": format_ms(d["time_ms"]), "label_time": format_ms(d["label_time_ms"])}
                for d in mine
            ],
            "labelled": int(inside.sum()),
            "error_mean": window_errors,
            "stream_seen": status.seen,
            "stream_detections": status.n_detections,
        }


def _window_errors(labelled: Any, inside: Any, task: str) -> float | None:
    import pyarrow as pa

    if not inside.any():
        return None
    _, errors = error_stream(labelled.filter(pa.array(inside)), task)
    return float(errors.mean()) if len(errors) else None


Kept = tuple[ErrorStreamDetector, tuple[int, str] | None, list[dict[str, Any]]]


def _load(path: Any) -> Kept | None:
    """The detector, watermark and detections kept at ``path`` (None: none yet, or
    unreadable, and the stream is fed again from its start)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") != FORMAT:
            return None
        detector = ErrorStreamDetector.from_state(data["state"])
        mark = data["watermark"]
        watermark = (int(mark[0]), str(mark[1])) if mark else None
        return detector, watermark, [dict(d) for d in data["detections"]]
    except (OSError, ValueError, KeyError, TypeError, IndexError, LoopMLError):
        return None


def _save(
    cache: SummaryCache,
    path: Any,
    detector: ErrorStreamDetector,
    watermark: tuple[int, str],
    detections: list[dict[str, Any]],
) -> None:
    data = {
        "format": FORMAT,
        "state": detector.to_state(),
        "watermark": list(watermark),
        "detections": detections,
    }
    with cache.writing(path) as temporary:
        temporary.write_text(json.dumps(data), encoding="utf-8")


def _millis(column: Any) -> Any:
    import numpy as np
    import pyarrow as pa

    return np.asarray(column.cast(pa.int64()).to_numpy(zero_copy_only=False), dtype=np.int64)
