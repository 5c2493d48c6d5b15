"""Scoring logged predictions against their labels (``loopml monitor predictions``), and what
the summary says about the log's storage."""

from __future__ import annotations

import math

import pytest

from loopml.monitoring.label_scores import CLASSIFICATION, REGRESSION, score_labels, task_of
from loopml.monitoring.log_reader import LogStorage


def test_a_class_is_the_same_whatever_kind_its_label_was_sent_as() -> None:
    predictions = [1, 0, 1, True, "yes", 2]
    labels = [1.0, "0", "1", "true", "yes", 3]
    scores = score_labels(predictions, labels, CLASSIFICATION)
    assert scores.scored == 6 and scores.accuracy == pytest.approx(5 / 6)
    assert scores.mae is None and scores.describe() == "accuracy 0.833"


def test_a_regressor_scores_mae_and_rmse_on_the_labels_that_are_numbers() -> None:
    scores = score_labels([2.0, 4.0, 10.0, 1.5], [1.0, 4.0, "7", "n/a"], REGRESSION)
    assert scores.scored == 3
    assert scores.mae == pytest.approx((1 + 0 + 3) / 3)
    assert scores.rmse == pytest.approx(math.sqrt((1 + 0 + 9) / 3))
    assert scores.accuracy is None and scores.describe().startswith("MAE 1.333, RMSE 1.826")


def test_nothing_comparable_scores_nothing() -> None:
    assert score_labels([1.5], ["n/a"], REGRESSION).describe() == ""
    assert score_labels([], [], CLASSIFICATION).scored == 0


@pytest.mark.parametrize(
    ("dtype", "predictions", "task"),
    [
        ("int64", [0.5], CLASSIFICATION),  # the signature decides
        ("str", ["a"], CLASSIFICATION),
        ("bool", [True], CLASSIFICATION),
        ("float64", [1.0, 2.0], REGRESSION),
        (None, [1, 0], CLASSIFICATION),  # no signature: the values decide
        (None, [1.0, 2.5], REGRESSION),
        (None, [[0.1, 0.9]], None),  # several outputs per row: no score
    ],
)
def test_the_signature_then_the_values_say_classifier_or_regressor(
    dtype: str | None, predictions: list[object], task: str | None
) -> None:
    assert task_of(dtype, predictions) == task


def test_the_storage_note_says_how_often_and_whether_the_newest_may_be_missing() -> None:
    assert LogStorage(servers=0, running=0, roll_seconds=None).note() is None
    stopped = LogStorage(servers=2, running=0, roll_seconds=60.0).note()
    assert stopped == (
        "Servers store the log every 60 s (--log-roll-seconds) and when they stop; none is "
        "running now."
    )
    running = LogStorage(servers=3, running=2, roll_seconds=5.0)
    assert running.note() is not None and "2 servers are still running" in running.note()
    assert "newest predictions (up to 5 s) may not be here yet" in str(running.note())
    assert running.as_json()["roll_seconds"] == 5.0
