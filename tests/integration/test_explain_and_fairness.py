"""Explanations stored at registration and fairness gates, over a real embedded store, on a
table like real ones: a string label, string categoricals with gaps, numbers with gaps.

A model that learned to approve men only fails a gate's fairness limit; a model that never
saw the sensitive column passes it."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer  # type: ignore[import-untyped]
from sklearn.ensemble import RandomForestClassifier  # type: ignore[import-untyped]
from sklearn.impute import SimpleImputer  # type: ignore[import-untyped]
from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]
from sklearn.pipeline import make_pipeline  # type: ignore[import-untyped]
from sklearn.preprocessing import OneHotEncoder  # type: ignore[import-untyped]

import loopml.data
import loopml.models
from loopml.core.errors import InvalidInputError
from loopml.models import explainers, explanations
from loopml.models.explanations import explain_rows, global_importance, version_explainer
from loopml.models.registry import open_version
from loopml.tracking.client import Client

NUMBERS = ["income", "debt"]
WORDS = ["sex", "region"]
POLICY = """\
evaluation: {dataset: credit_holdout@latest, target: decision}
metrics: {accuracy: {min: 0.6}}
fairness:
  - {sensitive: sex, metric: demographic_parity_difference, max: 0.2, positive: approved}
  - {sensitive: [sex, region], metric: equalized_odds_difference, max: 0.9, positive: approved}
"""


def credit(rows: int, seed: int) -> pd.DataFrame:
    """Applicants; approved when income beats debt, whatever their sex."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "income": rng.normal(size=rows),
            "debt": rng.normal(size=rows),
            "sex": rng.choice(["F", "M"], size=rows),
            "region": rng.choice(["north", "south"], size=rows),
        }
    )
    frame["decision"] = np.where(frame["income"] > frame["debt"], "approved", "denied")
    frame.loc[::17, "income"] = np.nan
    frame.loc[::23, "sex"] = None
    return frame


def _features() -> Any:
    return ColumnTransformer(
        [
            ("numbers", SimpleImputer(), NUMBERS),
            (
                "words",
                make_pipeline(
                    SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="ignore")
                ),
                WORDS,
            ),
        ]
    )


def fair(train: pd.DataFrame) -> Any:
    return make_pipeline(_features(), LogisticRegression()).fit(
        train[NUMBERS + WORDS], train["decision"]
    )


def biased(train: pd.DataFrame) -> Any:
    """Learned from past decisions that denied every woman."""
    past = np.where(train["sex"] == "F", "denied", train["decision"])
    return make_pipeline(_features(), RandomForestClassifier(30, random_state=0)).fit(
        train[NUMBERS + WORDS], past
    )


def write_csv(frame: pd.DataFrame, path: Path) -> Path:
    with path.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(frame.columns)
        for row in frame.itertuples(index=False):
            writer.writerow(["" if pd.isna(v) else v for v in row])
    return path


@pytest.fixture
def registered(client: Client, tmp_path: Path) -> Client:
    train, holdout = credit(400, seed=1), credit(300, seed=2)
    loopml.data.add("credit_holdout", write_csv(holdout, tmp_path / "holdout.csv"), client=client)
    example = train[NUMBERS + WORDS].head(5)
    for model in (fair(train), biased(train)):
        loopml.models.register(
            "credit",
            model,
            input_example=example,
            explain_data=train[NUMBERS + WORDS],
            client=client,
        )
    return client


def test_a_gate_fails_the_model_that_is_unfair_between_groups(registered: Client) -> None:
    policy = loopml.models.policy_from_yaml(POLICY, source="gates.yaml")
    passed = loopml.models.gate("credit@1", policy, client=registered)
    failed = loopml.models.gate("credit@2", policy, client=registered)
    checks = {c["name"]: c for c in failed.checks if c["check"] == "fairness"}
    parity = checks["demographic_parity_difference by sex"]
    assert passed.passed, passed.checks
    assert not failed.passed and not parity["passed"]
    assert parity["observed"] > 0.3 and parity["limit"] == "≤ 0.2"
    assert parity["detail"].startswith("positive: approved; selection rate: (missing) ")
    assert ", F 0, M " in parity["detail"]  # no woman approved
    odds = checks["equalized_odds_difference by sex, region"]  # TPR: 0 for women, ~1 for men
    assert not odds["passed"] and odds["observed"] > 0.9
    stored = registered.metadata.list_gate_results("credit", 2)[-1]
    assert [c["check"] for c in stored.checks].count("fairness") == 2


def test_a_fairness_limit_on_a_column_the_data_lacks_stores_no_result(registered: Client) -> None:
    policy = loopml.models.policy_from_yaml(
        POLICY.replace("sensitive: sex,", "sensitive: gender,"), source="gates.yaml"
    )
    with pytest.raises(InvalidInputError, match=r"gates.yaml: fairness\[0\].sensitive: .*'gender'"):
        loopml.models.gate("credit@1", policy, client=registered)
    assert registered.metadata.list_gate_results("credit", 1) == []


def test_registration_stores_global_importance_and_rows_are_explained_against_it(
    registered: Client,
) -> None:
    version = loopml.models.get("credit@1", client=registered)
    stored = global_importance(version, registered)
    assert stored is not None
    assert stored["method"] == "sampled" and stored["rows"] == 100
    assert stored["feature_names"] == NUMBERS + WORDS
    ranked = sorted(zip(stored["mean_abs_shap"], stored["feature_names"], strict=True))
    assert {name for _, name in ranked[-2:]} == {"income", "debt"}
    opened = open_version(version, registered)
    explainer = version_explainer(
        opened.model, version.signature, opened.background, opened.input_example, label="credit@1"
    )
    rows = credit(6, seed=3)
    import pyarrow as pa

    found = explain_rows(explainer, version.signature, pa.Table.from_pandas(rows))
    assert found.plain_expected() == pytest.approx(stored["expected_value"])
    probabilities = opened.model.predict_proba(rows[NUMBERS + WORDS])[:, 1]
    np.testing.assert_allclose(
        found.values.sum(axis=1)[:, 0] + found.expected_value[0], probabilities, atol=1e-9
    )


def test_without_shap_registration_samples_every_model_and_says_so(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(explainers, "shap_installed", lambda: False)
    monkeypatch.setattr(explanations, "shap_installed", lambda: False)
    train = credit(100, seed=4)
    forest = RandomForestClassifier(10, random_state=0).fit(train[["debt"]], train["decision"])
    version = loopml.models.register(
        "forest", forest, input_example=train[["debt"]].head(5), client=client
    )
    stored = global_importance(version, client)
    assert stored is not None and stored["method"] == "sampled"
    assert "pip install 'loopml[explain]'" in stored["note"]


def test_a_version_without_an_input_example_is_registered_without_importance(
    client: Client,
) -> None:
    train = credit(50, seed=5)
    forest = RandomForestClassifier(5, random_state=0).fit(train[["debt"]], train["decision"])
    version = loopml.models.register("bare", forest, client=client)
    assert global_importance(version, client) is None
    assert open_version(version, client).manifest["explain"] == {
        "skipped": "no input example (or explain_data) to explain"
    }
