"""Performance before labels arrive, per window: CBPE (:mod:`.cbpe`) on the logged scores.

Calibration: CBPE needs labelled predictions the model did not learn from, scored by the
model as it is served. The version's **first labelled predictions** in the log are exactly
that: its first ``CALIBRATION_ROWS`` labelled predictions with a score, in prediction-time
order. The reference dataset (the training data, found through lineage) is not used: a
model scored on its own training rows is surer and more often right than on new rows, so a
calibration fitted there would overestimate every window's performance. Until the first
``CALIBRATION_ROWS`` labels are in (at least ``MIN_CALIBRATION_ROWS``), a provisional
calibration is fitted on what there is, each report; from then on the fitted estimator is
kept as JSON (never a pickle) beside the part summaries (``cbpe/<version>.<model digest>.json``)
and never refitted, so estimates of later windows do not move as their labels arrive.

Each window's estimate is computed from the scores of its uniform sample (the rows drift is
measured on); once labels arrived for the window, the realised value on its labelled rows
and the estimate's error (estimated − realised, and in standard errors) sit beside it. A
window inside the calibration period says so (``in_calibration``): its estimate is not an
out-of-sample one.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loopml.core.errors import LoopMLError
from loopml.monitoring.cbpe import CBPE, compare_with_realised, fit_cbpe, realised_performance
from loopml.monitoring.label_scores import class_name
from loopml.monitoring.part_summaries import SCORE, SummaryCache

if TYPE_CHECKING:
    from loopml.monitoring.windows import Window

__all__ = [
    "CALIBRATION_ROWS",
    "MIN_CALIBRATION_ROWS",
    "Calibration",
    "calibration_path",
    "class_names",
    "estimate_windows",
    "load_calibration",
    "score_matrix",
]

CALIBRATION_ROWS = 1_000
MIN_CALIBRATION_ROWS = 200
FORMAT = 1


@dataclass(frozen=True)
class Calibration:
    """A fitted CBPE and the labelled predictions it was fitted on (count, time range)."""

    estimator: CBPE
    rows: int
    from_ms: int
    until_ms: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "estimator": self.estimator.to_dict(),
            "rows": self.rows,
            "from_ms": self.from_ms,
            "until_ms": self.until_ms,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibration:
        return cls(
            CBPE.from_dict(data["estimator"]),
            int(data["rows"]),
            int(data["from_ms"]),
            int(data["until_ms"]),
        )


def calibration_path(cache: SummaryCache, version: str, identity: str) -> Path:
    """Where the calibration of version ``NAME@N`` (whose files' digest is ``identity``) is
    kept; the model server reads it there too (its estimated-performance gauges)."""
    name = f"{version.replace('@', '.')}.{identity.replace(':', '-')[:40]}.json"
    return cache.folder / "cbpe" / name


def load_calibration(path: Path) -> Calibration | None:
    """The calibration kept at ``path``; None when there is none (or it is unreadable)."""
    try:
        return Calibration.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError, LoopMLError):
        return None


def estimate_windows(
    windows: Sequence[Window],
    pairs: Any,
    rows_of: Callable[[Window], Any],
    cache: SummaryCache,
    identities: dict[str, str | None],
    notes: list[str],
) -> None:
    """Fill ``estimated_performance`` of each window whose version logged scores and has a
    calibration. ``pairs``: the labelled predictions (``label_joins``), None if none;
    ``identities``: each version's model digest (names its kept calibration)."""
    for version in sorted({w.model_version for w in windows}):
        mine = [w for w in windows if w.model_version == version]
        samples = [rows_of(window) for window in mine]
        if not any(s is not None and SCORE in s.column_names for s in samples):
            _once(
                notes,
                f"No estimated performance for {version}: its log holds no scores (a "
                "regressor, a classifier without class probabilities, or a log written "
                "before scores were logged).",
            )
            continue
        labelled = _of_version(pairs, version)
        calibration = _calibration(cache, version, identities.get(version), labelled, notes)
        if calibration is None:
            continue
        for window, sample in zip(mine, samples, strict=True):
            inside = None
            if labelled is not None:
                import pyarrow as pa

                moments = _millis(labelled["time"])
                chosen = (moments >= window.start_ms) & (moments < window.end_ms)
                inside = labelled.filter(pa.array(chosen))
            found = _estimate(calibration, sample, inside, window)
            window.checks.estimated_performance = found


def _calibration(
    cache: SummaryCache,
    version: str,
    identity: str | None,
    labelled: Any,
    notes: list[str],
) -> Calibration | None:
    path = None
    if identity is not None:
        path = calibration_path(cache, version, identity)
        kept = load_calibration(path)
        if kept is not None:
            return kept
    scored = None
    if labelled is not None and SCORE in labelled.column_names:
        scored = _with_scores(labelled)
    if scored is None or scored.num_rows < MIN_CALIBRATION_ROWS:
        have = 0 if scored is None else scored.num_rows
        _once(
            notes,
            f"No estimated performance for {version} yet: CBPE is calibrated on its first "
            f"{CALIBRATION_ROWS} labelled, scored predictions (at least "
            f"{MIN_CALIBRATION_ROWS}); {have} have labels.",
        )
        return None
    scored = scored.sort_by([("time", "ascending"), ("prediction_id", "ascending")])
    scored = scored.slice(0, CALIBRATION_ROWS)
    try:
        classes, truth = _classes_and_truth(scored)
        scores = score_matrix(scored[SCORE], len(classes))
        estimator = fit_cbpe(truth, scores, classes=classes)
    except LoopMLError as exc:
        _once(notes, f"No estimated performance for {version}: {exc.message}")
        return None
    moments = _millis(scored["time"])
    found = Calibration(estimator, scored.num_rows, int(moments.min()), int(moments.max()))
    if path is not None and scored.num_rows >= CALIBRATION_ROWS:
        with cache.writing(path) as temporary:
            temporary.write_text(json.dumps(found.to_dict()), encoding="utf-8")
    return found


def _estimate(calibration: Calibration, sample: Any, labelled: Any, window: Window) -> Any:
    import numpy as np

    estimator = calibration.estimator
    width = len(estimator.classes)
    if sample is None or SCORE not in sample.column_names:
        return None
    scores = score_matrix(sample[SCORE], width)
    scores = scores[np.isfinite(scores).reshape(len(scores), -1).all(axis=1)]
    if not len(scores):
        return None
    try:
        estimate = estimator.estimate(scores)
    except LoopMLError:
        return None
    found: dict[str, Any] = {
        "method": "cbpe",
        "rows": estimate.rows,
        "metrics": {name: m.to_dict() for name, m in estimate.metrics.items()},
        "calibration": {
            "rows": calibration.rows,
            "from_ms": calibration.from_ms,
            "until_ms": calibration.until_ms,
        },
        "in_calibration": window.start_ms <= calibration.until_ms
        and calibration.from_ms < window.end_ms,
        "labelled": 0,
        "realised": None,
        "errors": None,
    }
    if labelled is not None and SCORE in labelled.column_names:
        labelled = _with_scores(labelled)
        if labelled.num_rows:
            truth = class_names(labelled["label"])
            known = np.isin(truth, np.asarray(estimator.classes))
            if known.any():
                raw = score_matrix(labelled[SCORE], width)[known]
                realised = realised_performance(estimator, truth[known], raw)
                found["labelled"] = int(known.sum())
                found["realised"] = realised
                errors = compare_with_realised(estimate, realised)
                found["errors"] = {name: e.to_dict() for name, e in errors.items()}
    return found


def class_names(values: Any) -> Any:
    """Each value's class name (``label_scores.class_name``) as a numpy array of strings,
    named once per distinct value."""
    import numpy as np

    array = values.combine_chunks() if hasattr(values, "combine_chunks") else values
    encoded = array.dictionary_encode()
    names = [None if v is None else class_name(v) for v in encoded.dictionary.to_pylist()]
    lookup = np.asarray([*names, None], dtype=object)
    return lookup[encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False)]


def score_matrix(column: Any, width: int) -> Any:
    """The logged scores as floats: 1-D (a binary model's) or rows × ``width``."""
    import numpy as np
    import pyarrow as pa

    array = column.combine_chunks() if hasattr(column, "combine_chunks") else column
    if pa.types.is_fixed_size_list(array.type) or pa.types.is_list(array.type):
        values = array.fill_null([float("nan")] * width) if array.null_count else array
        flat = np.asarray(values.flatten().to_numpy(zero_copy_only=False), np.float64)
        return flat.reshape(len(array), -1)
    return np.asarray(
        array.cast(pa.float64()).fill_null(float("nan")).to_numpy(zero_copy_only=False),
        np.float64,
    )


def _classes_and_truth(scored: Any) -> tuple[list[str], Any]:
    """The classes (sorted as scikit-learn sorts ``classes_``: numbers as numbers) and each
    label's class name; a binary model's second class is the positive one."""
    truth = class_names(scored["label"])
    predicted = class_names(scored["prediction"])
    seen = {str(v) for v in (*truth.tolist(), *predicted.tolist()) if v is not None}
    numbers = all(_is_number(v) for v in seen)
    classes = sorted(seen, key=float if numbers else str)
    return classes, truth


def _with_scores(labelled: Any) -> Any:
    """The labelled rows that have a score and a label."""
    import pyarrow.compute as pc

    return labelled.filter(pc.and_(pc.is_valid(labelled[SCORE]), pc.is_valid(labelled["label"])))


def _of_version(pairs: Any, version: str) -> Any:
    if pairs is None:
        return None
    import pyarrow.compute as pc

    mine = pairs.filter(pc.equal(pairs["model_version"], version))
    return mine if mine.num_rows else None


def _millis(column: Any) -> Any:
    import numpy as np
    import pyarrow as pa

    return np.asarray(column.cast(pa.int64()).to_numpy(zero_copy_only=False), dtype=np.int64)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _once(notes: list[str], note: str) -> None:
    if note not in notes:
        notes.append(note)
