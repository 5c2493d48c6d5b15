"""Which way is better for a metric, when ``runs compare`` marks the best run."""

from __future__ import annotations

import pytest

from loopml.tracking.comparison import lower_is_better


@pytest.mark.parametrize(
    "key",
    ["loss", "val_loss", "duration_s", "train.duration", "latency_ms", "rmse", "logloss", "p95_ms"],
)
def test_durations_losses_and_errors_are_better_lower(key: str) -> None:
    assert lower_is_better(key)


@pytest.mark.parametrize(
    "key", ["auc", "accuracy", "f1", "r2", "throughput", "samples_per_s", "rows_per_second"]
)
def test_scores_are_better_higher(key: str) -> None:
    assert not lower_is_better(key)
