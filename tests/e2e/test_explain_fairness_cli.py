"""``loopml explain`` and ``loopml fairness`` as a user runs them, on a CSV with a string
label, a string categorical and missing values: JSON a script can read, and a clear error
with exit 2 for a column that is not there."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.ensemble import RandomForestClassifier  # type: ignore[import-untyped]

import loopml.models
from loopml.core.config import init_project
from loopml.tracking.client import Client
from tests.e2e.runner import cli


def test_explain_and_fairness_read_a_csv_and_answer_in_json(tmp_path: Path) -> None:
    config = init_project(tmp_path)
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"income": rng.normal(size=200), "debt": rng.normal(size=200)})
    frame["decision"] = np.where(frame["income"] > frame["debt"], "approved", "denied")
    frame["sex"] = rng.choice(["F", "M"], size=200)
    frame.loc[3, "sex"] = None
    frame.loc[5, "debt"] = np.nan
    model = RandomForestClassifier(20, random_state=0).fit(
        frame[["income", "debt"]].fillna(0), frame["decision"]
    )
    with Client(config.store_uri, config.artifact_uri) as client:
        version = loopml.models.register(
            "credit", model, input_example=frame[["income", "debt"]].head(5), client=client
        )
        loopml.models.set_alias("credit", "champion", version.version, client=client)
    frame.head(30).to_csv(tmp_path / "rows.csv", index=False)

    explained = cli(
        "explain", "credit@champion", "--input", "rows.csv", "--json", cwd=tmp_path, timeout=300
    )
    assert explained.returncode == 0, explained.stderr
    document = json.loads(explained.stdout)
    assert document["model_version"] == "credit@1" and document["method"] == "tree"
    assert document["output_names"] == ["denied"]
    sums = np.asarray(document["contributions"]).sum(axis=1) + document["expected_value"]
    rows = pd.read_csv(tmp_path / "rows.csv")[["income", "debt"]]
    np.testing.assert_allclose(sums, model.predict_proba(rows)[:, 1], atol=1e-9)

    report = cli(
        "fairness", "credit@1", "--data", "rows.csv", "--target", "decision",
        "--sensitive", "sex", "--positive", "approved", "--json", cwd=tmp_path, timeout=300,
    )  # fmt: skip
    assert report.returncode == 0, report.stderr
    fairness = json.loads(report.stdout)
    assert fairness["positive"] == "approved" and fairness["rows"] == 30
    assert {g["group"]["sex"] for g in fairness["groups"]} == {"F", "M", "(missing)"}
    assert 0 <= fairness["demographic_parity_difference"] <= 1

    wrong = cli(
        "fairness", "credit@1", "--data", "rows.csv", "--target", "decision",
        "--sensitive", "gender", cwd=tmp_path, timeout=300,
    )  # fmt: skip
    assert wrong.returncode == 2
    assert "--sensitive: rows.csv has no column 'gender'" in wrong.stderr
