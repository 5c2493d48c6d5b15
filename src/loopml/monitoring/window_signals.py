"""A monitoring window as the signals alert rules and the retraining policy watch, by the names
``loopml.loop.signals.SIGNALS`` lists (that module is the one list; a test keeps the two in
step): traffic and health, drift, realised performance, performance estimated before labels
(``estimated_accuracy``, ``estimated_roc_auc``: CBPE) and ``concept_drift`` (1 in a window
where the error stream's detector fired, 0 where labels came and it did not).

A signal without data in the window is None.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from loopml.monitoring.windows import Window

__all__ = ["REALISED", "window_signals"]

REALISED = ("accuracy", "precision", "recall", "f1", "roc_auc", "rmse", "mae", "r2")
_ESTIMATED = ("accuracy", "roc_auc")
FEATURE_DRIFT_PREFIX = "feature_drift."


def window_signals(window: Window) -> dict[str, float | None]:
    """``window``'s signals, name → number (None: no data this window)."""
    checks = window.checks
    signals: dict[str, float | None] = {
        "traffic": float(window.rows),
        "error_rate": window.error_rate,
    }
    for q in (50, 95, 99):
        signals[f"latency_p{q}_ms"] = window.latency.quantile(q / 100) if window.requests else None
    drift = checks.drift or {}
    signals["drift_share"] = _number(drift.get("share"))
    for column, found in (drift.get("features") or {}).items():
        signals[FEATURE_DRIFT_PREFIX + column] = _number(found.get("statistic"))
    signals["prediction_drift"] = _number((checks.prediction_drift or {}).get("statistic"))
    performance = checks.performance or {}
    for name in REALISED:
        signals[name] = _number(performance.get(name))
    metrics = (checks.estimated_performance or {}).get("metrics") or {}
    for name in _ESTIMATED:
        signals[f"estimated_{name}"] = _number((metrics.get(name) or {}).get("value"))
    decay = checks.concept_drift
    signals["concept_drift"] = None if decay is None else float(bool(decay.get("decayed")))
    return signals


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if value == value else None  # NaN: no data
