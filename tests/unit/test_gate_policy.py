"""Gate policies read from YAML: every field, and errors that point at the line, column and
field with what is allowed."""

from __future__ import annotations

import pytest

from loopml.core.errors import InvalidInputError
from loopml.models.gate_policy import Bound, SliceRule, policy_from_yaml

FULL = """\
evaluation:
  dataset: churn_holdout@3
  target: churned
  table: holdout.csv
  features: [age, plan]
metrics:
  accuracy: {min: 0.9}
  log_loss: {max: 0.4}
champion:
  alias: production
  must_beat: {roc_auc: 0.01}
  schema_compatible: true
slices:
  - {column: region, metric: recall, min: 0.8, min_rows: 20}
  - {column: age, bins: 4, metric: accuracy, min: 0.85}
latency: {p95_ms: 12.5, repeats: 50}
fairness: []
promotion: {require_gate: true, require_approval: true}
"""


def test_a_full_policy_reads_every_field() -> None:
    policy = policy_from_yaml(FULL, source="gates.yaml")
    assert (policy.dataset, policy.target, policy.task) == (
        "churn_holdout@3",
        "churned",
        "classification",
    )
    assert policy.table == "holdout.csv" and policy.features == ("age", "plan")
    assert policy.metrics == (Bound("accuracy", min=0.9), Bound("log_loss", max=0.4))
    assert policy.champion_alias == "production" and policy.must_beat == {"roc_auc": 0.01}
    assert policy.schema_compatible is True
    assert policy.slices == (
        SliceRule("region", Bound("recall", min=0.8), min_rows=20),
        SliceRule("age", Bound("accuracy", min=0.85), bins=4),
    )
    assert (policy.latency_p95_ms, policy.latency_repeats) == (12.5, 50)
    assert policy.require_gate and policy.require_approval


def test_a_minimal_policy_has_no_checks_and_no_requirements() -> None:
    policy = policy_from_yaml("evaluation: {dataset: d@1, target: y}")
    assert policy.metrics == () and policy.champion_alias is None and policy.slices == ()
    assert not policy.require_gate and not policy.require_approval


def test_the_digest_changes_with_the_rules_but_not_with_formatting() -> None:
    base = policy_from_yaml(FULL, source="a.yaml")
    reformatted = policy_from_yaml(FULL.replace("{min: 0.9}", "\n    min: 0.9"), source="b.yaml")
    stricter = policy_from_yaml(FULL.replace("{min: 0.9}", "{min: 0.95}"))
    assert base.digest == reformatted.digest
    assert base.digest != stricter.digest
    assert base.digest.startswith("sha256:") and len(base.digest) == 7 + 64


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", r"gates.yaml:1:1: the policy is empty"),
        ("metrics: {}", r"gates.yaml:1:1: policy: missing key 'evaluation'"),
        ("evaluation: {dataset: d@1}", r"gates.yaml:1:13: evaluation: missing key 'target'"),
        (
            "evaluation: {dataset: d@1, target: y}\nmetrics:\n  acuracy: {min: 1}",
            r"gates.yaml:3:3: metrics: unknown key 'acuracy'; allowed keys: accuracy,",
        ),
        (
            "evaluation: {dataset: d@1, target: y}\nmetrics:\n  rmse: {max: 1}",
            r"gates.yaml:3:9: metrics.rmse: unknown classification metric 'rmse'; allowed: "
            r"accuracy, balanced_accuracy",
        ),
        (
            "evaluation: {dataset: d@1, target: y, task: ranking}",
            r"gates.yaml:1:45: evaluation.task: unknown task 'ranking'; allowed: "
            r"classification, regression",
        ),
        (
            "evaluation: {dataset: d@1, target: y}\nmetrics: {accuracy: {min: high}}",
            r"gates.yaml:2:27: metrics.accuracy.min: expected a number, got 'high'",
        ),
        (
            "evaluation: {dataset: d@1, target: y}\nmetrics: {accuracy: {}}",
            r"gates.yaml:2:21: metrics.accuracy: give 'min' and/or 'max'",
        ),
        (
            "evaluation: {dataset: d@1, target: y}\nchampion: {must_beat: {f2: 0.1}}",
            r"gates.yaml:2:24: champion.must_beat: unknown key 'f2'",
        ),
        (
            "evaluation: {dataset: d@1, target: y}\nslices: [{column: a, metric: recall}]",
            r"gates.yaml:2:10: slices\[0\]: give 'min' and/or 'max' for the metric",
        ),
        (
            "evaluation: {dataset: d@1, target: y}\nslices: [{column: a, metric: f1, min: 1, "
            "bins: 0}]",
            r"slices\[0\].bins: expected a whole number of 1 or more, got 0",
        ),
        (
            "evaluation: {dataset: d@1, target: y}\nlatency: {p95_ms: -3}",
            r"gates.yaml:2:19: latency.p95_ms: expected a number above 0, got -3",
        ),
        (
            "evaluation: {dataset: d@1, target: y}\nfairness: [{column: sex}]",
            r"gates.yaml:2:13: fairness\[0\]: unknown key 'column'; allowed keys: sensitive,",
        ),
        (
            "evaluation: {dataset: d@1, target: y}\npromotion: {require_gate: yes please}",
            r"promotion.require_gate: expected true or false, got 'yes please'",
        ),
        (
            "evaluation: {dataset: d@1, target: y}\nretrain: true",
            r"gates.yaml:2:1: policy: unknown key 'retrain'; allowed keys: evaluation,",
        ),
        ("evaluation: [", r"gates.yaml:1:14: not valid YAML"),
    ],
)
def test_a_bad_policy_is_refused_naming_line_column_and_field(text: str, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        policy_from_yaml(text, source="gates.yaml")
