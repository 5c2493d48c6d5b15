"""The ``feedback:`` field of a ``retraining:`` entry: labelled predictions exported to the
entry's dataset before a retraining; what it says, its defaults, and its errors at their place."""

from __future__ import annotations

from pathlib import Path

import pytest

from loopml.cli.loop import policy_json
from loopml.core.errors import InvalidInputError
from loopml.loop.policy import FeedbackData, load_loop_policy

ENTRY = """\
pipelines:
  train-churn: churn_pipeline:train
retraining:
  - model: churn@champion
    pipeline: train-churn
    triggers: {schedule: {every: 1d}}
"""
DATASET = "    dataset: churn-data\n    data_param: data\n"


def _policy(tmp_path: Path, text: str) -> FeedbackData | None:
    (tmp_path / "loopml.yaml").write_text(text, encoding="utf-8")
    (entry,) = load_loop_policy(tmp_path).retraining
    return entry.feedback


def test_feedback_reads_as_written_and_defaults_to_appending_everything(tmp_path: Path) -> None:
    written = ENTRY + DATASET + "    feedback: {append: false, since: 7d, target: churned}\n"
    found = _policy(tmp_path, written)
    assert found == FeedbackData(append=False, since_ms=7 * 86_400_000, target="churned")
    assert found.since(10 * 86_400_000) == 3 * 86_400_000
    (shown,) = policy_json(load_loop_policy(tmp_path))["retraining"]  # loopml loop policy --json
    assert shown["feedback"] == {"append": False, "since_ms": 604_800_000, "target": "churned"}
    assert _policy(tmp_path, ENTRY + DATASET + "    feedback: {}\n") == FeedbackData()
    assert FeedbackData().since(5) is None
    assert _policy(tmp_path, ENTRY + DATASET) is None


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        (ENTRY + "    feedback: {}\n", "7:15: retraining[0].feedback", "give 'dataset'"),
        (
            ENTRY + DATASET + "    feedback: {append: maybe}\n",
            "9:24: retraining[0].feedback.append",
            "expected true or false",
        ),
        (
            ENTRY + DATASET + "    feedback: {since: soon}\n",
            "9:23: retraining[0].feedback.since",
            "expected a number and a unit",
        ),
        (
            ENTRY + DATASET + "    feedback: {sinse: 7d}\n",
            "9:16: retraining[0].feedback",
            "unknown key 'sinse'",
        ),
    ],
)
def test_a_malformed_feedback_field_is_refused_at_its_place(
    tmp_path: Path, text: str, where: str, message: str
) -> None:
    with pytest.raises(InvalidInputError) as caught:
        _policy(tmp_path, text)
    assert str(caught.value).startswith(f"{tmp_path / 'loopml.yaml'}:{where}: "), caught.value
    assert message in str(caught.value)
