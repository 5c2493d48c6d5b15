"""The ``retraining:`` section of loopml.yaml: a full policy parses to what it says, and each
malformed field is refused at its file, line and column, naming the field."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from loopml.core.errors import InvalidInputError
from loopml.loop.policy import (
    DecayTrigger,
    DriftTrigger,
    NewDataTrigger,
    PromotionMode,
    RollbackGuard,
    ScheduleTrigger,
    load_loop_policy,
)

PIPELINES = """\
pipelines:
  train-churn: churn_pipeline:train
"""
FULL = """\
retraining:
  - model: churn@champion
    pipeline: train-churn
    dataset: churn-data
    data_param: data
    triggers:
      drift: {drift_share: 0.3, window: 1h, min_samples: 200}
      decay: {metric: accuracy, below: 0.85, window: 1h, min_labels: 200}
      schedule: {every: 1d}
      new_data: {}
    gate: gates/strict.yaml
    promotion: auto
    rollback_guard: {metric: accuracy, margin: 0.02, watch: 1h, min_samples: 300}
    cooldown: 6h
"""
GATES = "evaluation: {dataset: churn-data, target: churned}\n"


def _project(tmp_path: Path, retraining: str, *, gates: str | None = GATES) -> Path:
    (tmp_path / "loopml.yaml").write_text(PIPELINES + retraining, encoding="utf-8")
    if gates is not None:
        (tmp_path / "gates").mkdir(exist_ok=True)
        (tmp_path / "gates" / "strict.yaml").write_text(gates, encoding="utf-8")
    return tmp_path


def test_a_full_policy_reads_as_written(tmp_path: Path) -> None:
    policy = load_loop_policy(_project(tmp_path, FULL))
    (entry,) = policy.retraining
    assert (entry.model, entry.alias, entry.pipeline) == ("churn", "champion", "train-churn")
    assert (entry.dataset, entry.data_param) == ("churn-data", "data")
    assert entry.drift == DriftTrigger(3_600_000, drift_share=0.3, min_samples=200)
    assert entry.decay == DecayTrigger("accuracy", 3_600_000, below=0.85, min_labels=200)
    assert entry.schedule == ScheduleTrigger(86_400_000)
    assert entry.new_data == NewDataTrigger("churn-data")  # the entry's dataset by default
    assert entry.gate == tmp_path / "gates" / "strict.yaml"
    assert entry.promotion is PromotionMode.AUTO
    assert entry.rollback_guard == RollbackGuard("accuracy", 0.02, 3_600_000, 300)
    assert entry.cooldown_ms == 6 * 3_600_000
    assert entry.source == f"{tmp_path / 'loopml.yaml'}:4:5"
    assert entry.window_lengths() == {3_600_000}
    assert policy.for_model("churn", "champion") == entry
    assert policy.for_model("churn", "challenger") is None


def test_defaults_are_safe_and_the_project_gate_file_is_found(tmp_path: Path) -> None:
    minimal = "retraining:\n  - model: churn\n    pipeline: train-churn\n    triggers:\n"
    minimal += "      schedule: {every: 1w}\n"
    (tmp_path / "gates.yaml").write_text(GATES, encoding="utf-8")
    (entry,) = load_loop_policy(_project(tmp_path, minimal, gates=None)).retraining
    assert entry.alias == "champion" and entry.promotion is PromotionMode.APPROVAL
    assert entry.gate == tmp_path / "gates.yaml"
    assert entry.cooldown_ms == 3_600_000 and entry.rollback_guard is None


def test_no_file_or_no_section_is_an_empty_policy(tmp_path: Path) -> None:
    assert load_loop_policy(tmp_path).retraining == ()
    (tmp_path / "loopml.yaml").write_text(PIPELINES + "retraining:\n", encoding="utf-8")
    assert load_loop_policy(tmp_path).retraining == ()


def _entry(body: str) -> str:
    """A retraining entry with ``body`` (its fields, two-space indented under the dash)."""
    return "retraining:\n  - " + textwrap.indent(textwrap.dedent(body), "    ").lstrip()


BASE = """\
model: churn@champion
pipeline: train-churn
"""


@pytest.mark.parametrize(
    ("body", "where", "message"),
    [
        (
            BASE + "triggers: {schedule: {every: 1d}}\ncolour: red\n",
            "7:5: retraining[0]",
            "unknown key 'colour'",
        ),
        (
            "pipeline: train-churn\ntriggers: {schedule: {every: 1d}}\n",
            "4:5: retraining[0]",
            "missing key 'model'",
        ),
        (
            "model: churn@latest\npipeline: train-churn\ntriggers: {schedule: {every: 1d}}\n",
            "4:12: retraining[0].model",
            "expected NAME@ALIAS",
        ),
        (
            "model: churn\npipeline: train-chrun\ntriggers: {schedule: {every: 1d}}\n",
            "5:15: retraining[0].pipeline",
            "Did you mean 'train-churn'?",
        ),
        (BASE + "triggers: {}\n", "6:15: retraining[0].triggers", "name at least one trigger"),
        (
            BASE + "triggers: {drift: {drift_share: 1.5, window: 1h}}\n",
            "6:37: retraining[0].triggers.drift.drift_share",
            "expected 0 < x <= 1",
        ),
        (
            BASE + "triggers: {drift: {drift_share: 0.3}}\n",
            "6:23: retraining[0].triggers.drift",
            "missing key 'window'",
        ),
        (
            BASE + "triggers: {drift: {drift_share: 0.3, window: soon}}\n",
            "6:50: retraining[0].triggers.drift.window",
            "expected a number and a unit",
        ),
        (
            BASE + "triggers: {decay: {metric: acuracy, below: 0.8, window: 1h}}\n",
            "6:32: retraining[0].triggers.decay.metric",
            "Did you mean 'accuracy'?",
        ),
        (
            BASE + "triggers: {decay: {metric: rmse, below: 0.8, window: 1h}}\n",
            "6:45: retraining[0].triggers.decay.below",
            "use 'above'",
        ),
        (
            BASE + "triggers: {decay: {metric: f1, below: 0.8, drop: 0.1, window: 1h}}\n",
            "6:23: retraining[0].triggers.decay",
            "exactly one of 'below', 'above' or 'drop'",
        ),
        (
            BASE + "triggers: {decay: {metric: f1, below: 0.8, window: 1h, min_labels: 0}}\n",
            "6:72: retraining[0].triggers.decay.min_labels",
            "expected >= 1",
        ),
        (
            BASE + "triggers: {new_data: {}}\n",
            "6:26: retraining[0].triggers.new_data",
            "name the 'dataset'",
        ),
        (
            BASE + "triggers: {schedule: {every: 1d}}\npromotion: yolo\n",
            "7:16: retraining[0].promotion",
            "expected auto or approval",
        ),
        (
            BASE + "triggers: {schedule: {every: 1d}}\ngate: missing.yaml\n",
            "7:11: retraining[0].gate",
            "no gate policy file",
        ),
        (
            BASE + "triggers: {schedule: {every: 1d}}\nrollback_guard: {metric: accuracy}\n",
            "7:21: retraining[0].rollback_guard",
            "missing key 'margin'",
        ),
        (
            BASE + "triggers: {schedule: {every: 1d}}\ndataset: churn-data\n",
            "4:5: retraining[0]",
            "give 'dataset' and 'data_param' together",
        ),
        (
            BASE + "triggers: {schedule: {every: 0s}}\n",
            "6:34: retraining[0].triggers.schedule.every",
            "expected a number and a unit",
        ),
    ],
)
def test_each_malformed_field_is_refused_at_its_place(
    tmp_path: Path, body: str, where: str, message: str
) -> None:
    project = _project(tmp_path, _entry(body))
    with pytest.raises(InvalidInputError) as caught:
        load_loop_policy(project)
    text = str(caught.value)
    assert text.startswith(f"{project / 'loopml.yaml'}:{where}: "), text
    assert message in text


def test_a_model_listed_twice_is_refused(tmp_path: Path) -> None:
    entry = _entry(BASE + "triggers: {schedule: {every: 1d}}\n")
    twice = entry + entry.removeprefix("retraining:\n")
    with pytest.raises(InvalidInputError, match=r"retraining\[1\].model: churn@champion is listed"):
        load_loop_policy(_project(tmp_path, twice))


def test_a_list_is_required_and_bad_yaml_points_at_its_place(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match=r"loopml.yaml:4:3: retraining: expected a list"):
        load_loop_policy(_project(tmp_path, "retraining:\n  model: churn\n"))
    with pytest.raises(InvalidInputError, match=r"loopml.yaml:\d+:\d+: not valid YAML"):
        load_loop_policy(_project(tmp_path, "retraining: [\n"))
