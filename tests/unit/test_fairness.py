"""Fairness reports give Fairlearn's own numbers, on a case worked out by hand, with string
labels, a missing sensitive value and a missing label."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import (  # type: ignore[import-untyped]
    MetricFrame,
    demographic_parity_difference,
    equalized_odds_difference,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)

from loopml.core.errors import InvalidInputError
from loopml.models.fairness import MISSING_GROUP, fairness_report

# 10 rows; group F: 4 rows, M: 5 rows, one row without a sex; one row without a label
LABELS = ["yes", "no", "yes", "no", "yes", "yes", "no", "no", "yes", None]
PREDICTED = ["yes", "no", "no", "no", "yes", "yes", "yes", "yes", "yes", "no"]
SEX = ["F", "F", "F", "F", "M", "M", "M", "M", "M", None]


def test_the_numbers_are_fairlearns_on_a_case_worked_out_by_hand() -> None:
    report = fairness_report(LABELS, PREDICTED, {"sex": SEX})
    assert report.positive == "yes" and report.rows == 9 and report.dropped == 1
    groups = {g["group"]["sex"]: g for g in report.groups}
    assert set(groups) == {"F", "M"}  # the unlabelled row was the only one without a sex
    # F: predicted yes 1 of 4; true yes rows 0, 2 → TPR 1/2; true no rows 1, 3 → FPR 0
    assert groups["F"]["selection_rate"] == pytest.approx(0.25)
    assert groups["F"]["true_positive_rate"] == pytest.approx(0.5)
    assert groups["F"]["false_positive_rate"] == pytest.approx(0.0)
    assert groups["F"]["accuracy"] == pytest.approx(0.75)
    # M: predicted yes 5 of 5; TPR 3/3; FPR 2/2
    assert groups["M"]["selection_rate"] == pytest.approx(1.0)
    assert groups["M"]["false_positive_rate"] == pytest.approx(1.0)
    assert groups["M"]["rows"] == 5
    assert report.differences["demographic_parity_difference"] == pytest.approx(0.75)
    assert report.differences["equalized_odds_difference"] == pytest.approx(1.0)

    # and the same as Fairlearn called directly on the labelled rows
    y = np.array([label == "yes" for label in LABELS[:9]], dtype=int)
    p = np.array([label == "yes" for label in PREDICTED[:9]], dtype=int)
    sex = pd.Series(SEX[:9], name="sex")
    frame = MetricFrame(
        metrics={
            "selection_rate": selection_rate,
            "true_positive_rate": true_positive_rate,
            "false_positive_rate": false_positive_rate,
        },
        y_true=y,
        y_pred=p,
        sensitive_features=sex,
    )
    for name in ("selection_rate", "true_positive_rate", "false_positive_rate"):
        for group in ("F", "M"):
            assert groups[group][name] == pytest.approx(frame.by_group[name][group])
    assert report.differences["demographic_parity_difference"] == pytest.approx(
        demographic_parity_difference(y, p, sensitive_features=sex)
    )
    assert report.differences["equalized_odds_difference"] == pytest.approx(
        equalized_odds_difference(y, p, sensitive_features=sex)
    )


def test_a_missing_sensitive_value_is_a_group_of_its_own() -> None:
    report = fairness_report([*LABELS[:9], "no"], PREDICTED, {"sex": SEX})
    names = [g["group"]["sex"] for g in report.groups]
    assert MISSING_GROUP in names and report.dropped == 0


def test_two_sensitive_columns_make_groups_of_their_combinations() -> None:
    band = ["young", "old"] * 5
    report = fairness_report(LABELS, PREDICTED, {"sex": SEX, "age_band": band})
    assert report.sensitive == ("sex", "age_band")
    assert {(g["group"]["sex"], g["group"]["age_band"]) for g in report.groups} == {
        ("F", "young"),
        ("F", "old"),
        ("M", "young"),
        ("M", "old"),
    }
    assert sum(g["rows"] for g in report.groups) == 9


def test_more_than_two_classes_need_the_positive_one_named() -> None:
    labels = ["a", "b", "c", "a"]
    with pytest.raises(InvalidInputError, match="name the one that counts as selected"):
        fairness_report(labels, labels, {"sex": ["F", "M", "F", "M"]})
    report = fairness_report(labels, labels, {"sex": ["F", "M", "M", "F"]}, positive="a")
    assert report.differences["demographic_parity_difference"] == pytest.approx(1.0)
    with pytest.raises(InvalidInputError, match="'d' is not one of the classes: a, b, c"):
        fairness_report(labels, labels, {"sex": ["F", "M", "F", "M"]}, positive="d")


def test_numeric_labels_match_a_positive_given_as_text() -> None:
    report = fairness_report([0, 1, 1, 0], [0, 1, 0, 0], {"g": ["x", "x", "y", "y"]}, positive="1")
    assert report.positive == 1
    assert report.differences["demographic_parity_difference"] == pytest.approx(0.5)
