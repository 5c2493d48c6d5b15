"""Which of several runs has the best value of a metric: the rule ``loopml runs compare``
and the dashboard's compare page both mark the best run by."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

__all__ = ["LOWER_IS_BETTER", "best_run", "lower_is_better"]

# metric key words that mean "lower is better" when marking the best run in a comparison
LOWER_IS_BETTER = frozenset(
    (
        *("loss", "logloss", "error", "err", "mse", "rmse", "mae", "mape", "brier"),
        *("fpr", "fnr", "wer", "cer", "perplexity", "regret", "cost"),
        *("latency", "duration", "elapsed", "runtime", "wall", "time"),
        *("seconds", "secs", "sec", "s", "ms", "us", "ns", "bytes", "memory", "mem", "rss"),
    )
)


def lower_is_better(key: str) -> bool:
    """Whether a smaller value of metric ``key`` is better (a loss, an error, a duration…)."""
    parts = re.split(r"[^a-z0-9]+", key.lower())
    if "per" in parts:  # a rate (rows_per_s, requests_per_second): more is better
        return False
    return any(part in LOWER_IS_BETTER for part in parts)


def best_run(values: Mapping[str, float | None], key: str) -> str | None:
    """The id of the run with the best finite value of metric ``key`` among ``values`` (run
    id → value), lowest or highest as :func:`lower_is_better` says; None if none is finite."""
    finite = {run_id: v for run_id, v in values.items() if v is not None and math.isfinite(v)}
    if not finite:
        return None
    pick = min if lower_is_better(key) else max
    return pick(finite, key=lambda run_id: finite[run_id])
