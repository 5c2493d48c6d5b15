"""Feedback made training data, as a user does it: a model trained on the Palmer penguins of
2007–2008 is served (``loopml serve``), answers the 2009 penguins (string species, missing
measurements and sexes), the true species of some of them go back (``loopml feedback``), and
``loopml monitor export-labelled`` stores them as the next version of the dataset — the earlier
rows, then the logged inputs with their labels — once: the same export again adds nothing."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pyarrow as pa
import pytest
from sklearn.compose import ColumnTransformer  # type: ignore[import-untyped]
from sklearn.impute import SimpleImputer  # type: ignore[import-untyped]
from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]
from sklearn.pipeline import Pipeline, make_pipeline  # type: ignore[import-untyped]
from sklearn.preprocessing import OneHotEncoder, StandardScaler  # type: ignore[import-untyped]

import loopml
from loopml.core.config import init_project, load_config
from loopml.monitoring.labelled_data import LINEAGE_FILE
from loopml.tracking.client import Client
from tests.e2e.runner import cli
from tests.e2e.test_real_table import FEATURES, expect, penguins_rows, value, write_csv
from tests.fixtures.model_server import start_model_server, wait_until_serving

NUMBERS = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"]
WORDS = ["island", "sex"]


def _train(folder: Path) -> None:
    """penguins@1 (2007–2008, as the CSV) and penguins model v1 trained on it, @champion."""
    header, rows = penguins_rows()
    year = header.index("year")
    earlier = write_csv(folder / "penguins.csv", header, [r for r in rows if r[year] < "2009"])
    with Client(config=init_project(folder), create=False) as client:
        loopml.data.add("penguins", earlier, client=client)
        frame = loopml.data.get("penguins@1", client=client).to_arrow().to_pandas()
        frame = frame[frame["species"].notna()]
        features = ColumnTransformer([
            ("numbers", make_pipeline(SimpleImputer(), StandardScaler()), NUMBERS),
            ("words", make_pipeline(SimpleImputer(strategy="most_frequent"),
                                    OneHotEncoder(handle_unknown="ignore")), WORDS),
        ])  # fmt: skip
        model = Pipeline([("features", features), ("classify", LogisticRegression(max_iter=500))])
        model.fit(frame[FEATURES], frame["species"])
        with loopml.start_run("train", client=client) as run:
            run.use_dataset("penguins@1")
            loopml.models.register(
                "penguins", model, input_example=frame[FEATURES].head(5), run=run, client=client
            )
        loopml.models.set_alias("penguins", "champion", 1, client=client)


@pytest.mark.timeout(600)
def test_feedback_on_served_penguins_becomes_the_next_dataset_version(tmp_path: Path) -> None:
    _train(tmp_path)
    export = ("monitor", "export-labelled", "penguins@champion", "--to", "penguins")
    nothing = cli(*export, "--append", cwd=tmp_path)
    assert nothing.returncode == 2 and "No logged predictions of penguins@champion" in (
        nothing.stderr
    ), nothing.stderr

    header, rows = penguins_rows()
    later = [r for r in rows if r[header.index("year")] == "2009"]
    columns = [header.index(name) for name in FEATURES]
    data = [[value(r[i], n) for i, n in zip(columns, FEATURES, strict=True)] for r in later]
    server = wait_until_serving(start_model_server(tmp_path, "penguins@champion"))
    try:
        answered = httpx.post(
            f"{server.url}/invocations",
            json={"dataframe_split": {"columns": FEATURES, "data": data}},
            timeout=30,
        )
        assert answered.status_code == 200, answered.text
    finally:
        server.stop()  # the log is stored when the server stops
    ids = answered.json()["prediction_ids"]

    unlabelled = cli(*export, "--append", cwd=tmp_path)
    assert unlabelled.returncode == 2, unlabelled.stderr
    assert f"No feedback yet for the {len(later)} logged predictions" in unlabelled.stderr

    truth = [r[header.index("species")] for r in later]
    chosen = range(0, len(later), 2)  # every other penguin gets its true species back
    labels = write_csv(tmp_path / "labels.csv", ["prediction_id", "label"],
                       [[ids[i], truth[i]] for i in chosen])  # fmt: skip
    expect(cli("feedback", str(labels), cwd=tmp_path), 0)

    first = json.loads(expect(cli(*export, "--append", "--json", cwd=tmp_path), 0))
    assert (first["ref"], first["created"], first["base"]) == ("penguins@2", True, "penguins@1")
    assert (first["rows"], first["target"], first["table"]) == (len(chosen), "species",
                                                                "penguins.csv")  # fmt: skip
    lineage = first["lineage"]
    assert lineage["model_versions"] == ["penguins@1"] and len(lineage["deployments"]) == 1
    again = json.loads(expect(cli(*export, "--append", "--json", cwd=tmp_path), 0))
    assert (again["ref"], again["created"]) == ("penguins@2", False)

    with Client(config=load_config(tmp_path), create=False) as client:
        handle = loopml.data.get("penguins@2", client=client)
        table = handle.to_arrow()
        stored = json.loads((handle.path() / LINEAGE_FILE).read_text(encoding="utf-8"))
        base_rows = loopml.data.get("penguins@1", client=client).to_arrow().num_rows
        assert handle.version.source == "feedback:penguins@champion"
    assert stored == lineage and table.num_rows == base_rows + len(chosen)
    added = table.slice(base_rows).to_pylist()
    assert [row["species"] for row in added] == [truth[i] for i in chosen]
    for row, i in zip(added, chosen, strict=True):
        assert [row[name] for name in FEATURES] == data[i]  # missing values stay missing
        assert row["year"] is None  # a column the model does not take
    assert any(row["sex"] is None for row in added)
    assert pa.types.is_string(table.schema.field("species").type)

    # the same labelled rows alone, in a dataset of their own: Parquet, the logged types
    alone = json.loads(expect(cli("monitor", "export-labelled", "penguins", "--to",
                                  "penguins-feedback", "--json", cwd=tmp_path), 0))  # fmt: skip
    assert (alone["ref"], alone["base"], alone["table"]) == (
        "penguins-feedback@1",
        None,
        "penguins-feedback.parquet",
    )
    with Client(config=load_config(tmp_path), create=False) as client:
        own = loopml.data.get("penguins-feedback@1", client=client).to_arrow()
    assert own.column_names == [*FEATURES, "species"]
    assert own.to_pylist() == added_without_year(added)


def added_without_year(rows: list[dict[str, object]]) -> list[dict[str, object]]:
    return [{name: row[name] for name in [*FEATURES, "species"]} for row in rows]
