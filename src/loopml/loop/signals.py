"""The signals a monitoring window yields, by name: what alert rules (and later the retraining
policy) can watch. This is the one list; docs/monitoring.md ("Alerts") shows it too.

A window's signals are a mapping name → number (``None`` or NaN: no data this window), e.g.
``{"traffic": 1200, "latency_p95_ms": 18.5, "drift_share": 0.4, "feature_drift.age": 0.21}``.

>>> check_signal("drift_share"), check_signal("feature_drift.age")
('', '')
>>> check_signal("drift_shere")
"unknown signal 'drift_shere'. Did you mean 'drift_share'?"
"""

from __future__ import annotations

from collections.abc import Mapping

from loopml.core.suggest import did_you_mean

__all__ = ["FEATURE_DRIFT_PREFIX", "SIGNALS", "check_signal"]

FEATURE_DRIFT_PREFIX = "feature_drift."

SIGNALS: Mapping[str, str] = {
    # traffic and health
    "traffic": "predictions made in the window (a count)",
    "latency_p50_ms": "median prediction latency, milliseconds",
    "latency_p95_ms": "95th percentile of prediction latency, milliseconds",
    "latency_p99_ms": "99th percentile of prediction latency, milliseconds",
    "error_rate": "share of requests that failed (0 to 1)",
    # drift against the model's reference
    "drift_share": "share of the features that drifted (0 to 1)",
    "prediction_drift": "drift score of the model's predictions (the test's statistic)",
    FEATURE_DRIFT_PREFIX + "COLUMN": "drift score of one feature column (the test's statistic)",
    # realised performance, once labels are fed back
    "accuracy": "classification accuracy on the labelled predictions",
    "precision": "classification precision",
    "recall": "classification recall",
    "f1": "classification F1 score",
    "roc_auc": "area under the ROC curve",
    "rmse": "regression root mean squared error",
    "mae": "regression mean absolute error",
    "r2": "regression coefficient of determination",
    # estimated performance, before labels arrive
    "estimated_accuracy": "accuracy estimated from the confidence distribution (CBPE)",
    "estimated_roc_auc": "ROC AUC estimated from the confidence distribution (CBPE)",
    "concept_drift": "1 in a window where the detector on the labelled error stream (ADWIN) "
    "saw decay, 0 in a window with labels where it did not",
}


def check_signal(name: str) -> str:
    """``""`` when ``name`` is a signal, else what is wrong (with a did-you-mean hint)."""
    if name in SIGNALS and not name.endswith("COLUMN"):
        return ""
    if name.startswith(FEATURE_DRIFT_PREFIX):
        if name[len(FEATURE_DRIFT_PREFIX) :].strip():
            return ""
        return f"{FEATURE_DRIFT_PREFIX}COLUMN needs a column name, e.g. {FEATURE_DRIFT_PREFIX}age."
    hint = did_you_mean(name, SIGNALS)
    return f"unknown signal {name!r}.{hint}"
