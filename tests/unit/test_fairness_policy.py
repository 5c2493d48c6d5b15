"""The ``fairness`` section of a gate policy: its rules, and errors naming the file, line,
column and field with what is allowed."""

from __future__ import annotations

import pytest

from loopml.core.errors import InvalidInputError
from loopml.models.gate_policy import Bound, FairnessRule, policy_from_yaml

BASE = "evaluation: {dataset: d@1, target: y}\n"


def test_fairness_rules_are_read_with_one_or_several_sensitive_columns() -> None:
    policy = policy_from_yaml(
        BASE
        + "fairness:\n"
        + "  - {sensitive: sex, metric: demographic_parity_difference, max: 0.1}\n"
        + "  - {sensitive: [sex, age_band], metric: equalized_odds_ratio, min: 0.8, "
        + "positive: 'yes'}\n"
    )
    assert policy.fairness == (
        FairnessRule(("sex",), Bound("demographic_parity_difference", max=0.1)),
        FairnessRule(("sex", "age_band"), Bound("equalized_odds_ratio", min=0.8), "yes"),
    )
    assert policy.to_json()["fairness"][1]["sensitive"] == ("sex", "age_band")


def test_a_policy_without_fairness_keeps_the_digest_it_had() -> None:
    policy = policy_from_yaml(BASE + "fairness: []\n")
    assert "fairness" not in policy.to_json()
    assert policy.digest == policy_from_yaml(BASE).digest


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "fairness: [{sensitive: sex, metric: parity, max: 0.1}]",
            r"gates.yaml:2:37: fairness\[0\].metric: unknown fairness metric 'parity'; "
            r"allowed: demographic_parity_difference, demographic_parity_ratio,",
        ),
        (
            "fairness: [{sensitive: sex, metric: demographic_parity_difference}]",
            r"gates.yaml:2:12: fairness\[0\]: give 'max'",
        ),
        (
            "fairness: [{metric: equalized_odds_difference, max: 0.1}]",
            r"gates.yaml:2:12: fairness\[0\]: missing key 'sensitive'",
        ),
        (
            "fairness: [{sensitive: [], metric: equalized_odds_difference, max: 0.1}]",
            r"gates.yaml:2:24: fairness\[0\].sensitive: name at least one column",
        ),
        (
            "fairness: [{sensitive: sex, metric: equalized_odds_difference, max: low}]",
            r"fairness\[0\].max: expected a number, got 'low'",
        ),
        (
            "fairness: {sensitive: sex}",
            r"gates.yaml:2:11: fairness: expected a list of fairness limits",
        ),
    ],
)
def test_a_bad_fairness_rule_is_refused_naming_line_column_and_field(
    text: str, message: str
) -> None:
    with pytest.raises(InvalidInputError, match=message):
        policy_from_yaml(BASE + text, source="gates.yaml")


def test_fairness_limits_are_for_classification() -> None:
    text = (
        "evaluation: {dataset: d@1, target: y, task: regression}\n"
        "fairness: [{sensitive: sex, metric: demographic_parity_difference, max: 0.1}]"
    )
    with pytest.raises(InvalidInputError, match=r"gates.yaml:2:12: fairness: fairness limits"):
        policy_from_yaml(text, source="gates.yaml")
