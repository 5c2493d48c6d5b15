"""Models on the kinds of columns real tables have — string labels, string categoricals,
booleans, datetimes, integers with gaps — registered, gated, batch-scored and served by a real
``loopml serve`` through both protocols (JSON and CSV); and a model that takes an array of
strings.

Whether a missing value may reach the model is found at registration by asking the model (a
pipeline that imputes takes them whatever its last step's tags say), and the server, batch
scoring and gates hold to the same answer in every format.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pytest
from sklearn.compose import ColumnTransformer  # type: ignore[import-untyped]
from sklearn.impute import SimpleImputer  # type: ignore[import-untyped]
from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]
from sklearn.pipeline import Pipeline, make_pipeline  # type: ignore[import-untyped]
from sklearn.preprocessing import OneHotEncoder  # type: ignore[import-untyped]

import loopml.data
import loopml.models
from loopml.core.config import init_project
from loopml.core.errors import InvalidInputError
from loopml.models.gate_policy import policy_from_yaml
from loopml.serving.batch import score
from loopml.tracking.client import Client
from tests.fixtures.model_server import start_model_server, wait_until_serving

_post = functools.partial(httpx.post, timeout=60)  # a busy machine is slow, not wrong
_get = functools.partial(httpx.get, timeout=60)
FEATURES = ["plan", "member", "visits", "joined", "spend"]


def customers(rows: int = 60) -> pd.DataFrame:
    """A small table of every kind of column, with gaps where real data has them."""
    index = np.arange(rows)
    frame = pd.DataFrame(
        {
            "plan": pd.Series(np.where(index % 3 == 0, "basic", "pro"), dtype=object),
            "member": index % 2 == 0,
            "visits": pd.array([None if i % 7 == 3 else int(i % 5) for i in index], dtype="Int64"),
            "joined": pd.to_datetime("2024-01-01") + pd.to_timedelta(index, unit="D"),
            "spend": [None if i % 11 == 5 else float(i % 9) for i in index],
        }
    )
    frame.loc[4, "plan"] = None
    frame["churned"] = np.where((index % 3 == 0) | (index % 5 == 0), "yes", "no")
    return frame


def mixed_model(frame: pd.DataFrame) -> Pipeline:
    """Imputes plan, visits and spend; the booleans go through untouched (so a missing one
    breaks it); the datetime is not used."""
    features = ColumnTransformer(
        [
            ("numbers", SimpleImputer(), ["visits", "spend"]),
            ("plan", make_pipeline(SimpleImputer(strategy="most_frequent"),
                                   OneHotEncoder(handle_unknown="ignore")), ["plan"]),
            ("member", "passthrough", ["member"]),
        ]
    )  # fmt: skip
    model = Pipeline([("features", features), ("classify", LogisticRegression())])
    return model.fit(frame[FEATURES], frame["churned"])


@dataclass
class Project:
    folder: Path
    client: Client
    frame: pd.DataFrame
    words: np.ndarray


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    folder = tmp_path_factory.mktemp("real-types")
    config = init_project(folder)
    frame = customers()
    words = np.array([["red", "s"], ["blue", "m"], ["red", "l"], ["green", "s"]] * 5)
    with Client(config.store_uri, config.artifact_uri) as client:
        register = loopml.models.register
        mixed = register(
            "mixed", mixed_model(frame), input_example=frame[FEATURES].head(5), client=client
        )
        text = make_pipeline(OneHotEncoder(handle_unknown="ignore"), LogisticRegression())
        labels = np.tile([0, 1, 0, 1], 5)
        register("words", text.fit(words, labels), input_example=words[:3], client=client)
        loopml.models.set_alias("mixed", "champion", mixed.version, client=client)
        loopml.models.set_alias("words", "champion", 1, client=client)
        yield Project(folder, client, frame, words)


@contextmanager
def serving(project: Project, model: str) -> Iterator[str]:
    """The URL of a real ``loopml serve MODEL@champion`` (one at a time: each warms up alone)."""
    server = start_model_server(project.folder, f"{model}@champion")
    try:
        yield wait_until_serving(server).url
    finally:
        server.stop()


def _json_rows(frame: pd.DataFrame) -> list[list[Any]]:
    rows = []
    for record in frame[FEATURES].to_dict("records"):
        rows.append(
            [
                None if pd.isna(record[name]) else
                record[name].isoformat() if name == "joined" else
                int(record[name]) if name == "visits" else
                bool(record[name]) if name == "member" else record[name]
                for name in FEATURES
            ]
        )  # fmt: skip
    return rows


def test_a_model_on_real_column_kinds_registers_gates_scores_and_serves(
    project: Project, tmp_path: Path
) -> None:
    frame = project.frame
    version = loopml.models.get("mixed@champion", client=project.client)
    columns = {c["name"]: (c["type"], c["missing"]) for c in version.signature["inputs"]["columns"]}
    assert columns == {
        "plan": ("string", True),
        "member": ("boolean", False),  # passed through to the classifier, which takes no gap
        "visits": ("long", True),
        "joined": ("datetime", True),  # not used by the model
        "spend": ("double", True),
    }
    assert version.signature["outputs"]["dtype"] == "str"
    expected = list(mixed_model(frame).predict(frame[FEATURES]))

    # gate on a dataset version of the same table, string labels against string predictions
    frame.to_parquet(tmp_path / "customers.parquet", index=False)
    loopml.data.add("customers", tmp_path / "customers.parquet", client=project.client)
    policy = policy_from_yaml(
        "evaluation: {dataset: customers@latest, target: churned}\n"
        "metrics: {accuracy: {min: 0.5}, roc_auc: {min: 0.5}}\n"
        "latency: {p95_ms: 60000}\n"  # predicts on the stored example: datetimes read back
    )
    result = loopml.models.gate("mixed@champion", policy, client=project.client)
    assert result.passed, result.checks

    # batch scoring of a CSV with empty cells
    pa_csv.write_csv(pa.Table.from_pandas(frame[FEATURES], preserve_index=False),
                     tmp_path / "rows.csv")  # fmt: skip
    scored = score("mixed@champion", tmp_path / "rows.csv", tmp_path / "out.parquet",
                   client=project.client)  # fmt: skip
    assert scored.rows == len(frame)
    assert pd.read_parquet(tmp_path / "out.parquet")["prediction"].tolist() == expected

    with serving(project, "mixed") as url:
        _served_alike(url, frame, expected, tmp_path / "rows.csv")
    (tmp_path / "gap.csv").write_text(_with_gap(tmp_path / "rows.csv"), encoding="utf-8")
    with pytest.raises(InvalidInputError, match=r"gap\.csv: row 2, column 'member': a missing"):
        score("mixed@champion", tmp_path / "gap.csv", tmp_path / "gap.parquet",
              client=project.client)  # fmt: skip


def _with_gap(rows: Path) -> str:
    """The header and first row of ``rows``, then that row again without its 'member'."""
    header, first = rows.read_text(encoding="utf-8").splitlines()[:2]
    cells = first.split(",")
    cells[FEATURES.index("member")] = ""
    return f"{header}\n{first}\n{','.join(cells)}\n"


def _served_alike(url: str, frame: pd.DataFrame, expected: list[Any], rows_csv: Path) -> None:
    """Both protocols: nulls, empty CSV cells, strings, datetimes, booleans; and a gap where
    the model takes none refused alike in JSON and CSV."""
    rows = _json_rows(frame)
    split = _post(f"{url}/invocations", json={"dataframe_split": {"columns": FEATURES,
                                                                       "data": rows}})  # fmt: skip
    assert split.status_code == 200, split.text
    assert split.json()["predictions"] == expected
    text = rows_csv.read_text(encoding="utf-8")
    as_csv = _post(f"{url}/invocations", content=text, headers={"content-type": "text/csv"})
    assert as_csv.status_code == 200, as_csv.text
    assert as_csv.json()["predictions"] == expected
    datatypes = {"plan": "BYTES", "member": "BOOL", "visits": "INT64", "joined": "BYTES",
                 "spend": "FP64"}  # fmt: skip
    tensors = [
        {"name": name, "shape": [len(rows)], "datatype": datatypes[name],
         "data": [row[k] for row in rows]}
        for k, name in enumerate(FEATURES)
    ]  # fmt: skip
    oip = _post(f"{url}/v2/models/mixed/infer", json={"inputs": tensors})
    assert oip.status_code == 200, oip.text
    assert oip.json()["outputs"][0]["data"] == expected

    gap = [[*rows[0][:1], None, *rows[0][2:]]]
    refused = _post(
        f"{url}/invocations", json={"dataframe_split": {"columns": FEATURES, "data": gap}}
    )
    assert refused.status_code == 422 and "(column 'member'): a missing value" in refused.text
    blank = _post(f"{url}/invocations", content=_with_gap(rows_csv),
                       headers={"content-type": "text/csv"})  # fmt: skip
    assert blank.status_code == 422 and "row 2 (column 'member'): a missing value" in blank.text


def test_a_model_that_takes_strings_serves_through_both_protocols(project: Project) -> None:
    version = loopml.models.get("words@champion", client=project.client)
    assert version.signature["inputs"] == {
        "kind": "tensor",
        "dtype": "str",
        "shape": [-1, 2],
        "missing": True,  # the encoder ignores what it does not know, a null included
    }
    rows = project.words[:4].tolist()
    expected = loopml.models.load("words@1", client=project.client).predict(project.words[:4])
    with serving(project, "words") as url:
        _strings_served(url, rows, expected)


def _strings_served(url: str, rows: list[list[str]], expected: np.ndarray) -> None:
    mlflow = _post(f"{url}/invocations", json={"inputs": rows})
    assert mlflow.status_code == 200, mlflow.text
    assert mlflow.json()["predictions"] == expected.tolist()
    flat = [value for row in rows for value in row]
    tensor = {"name": "inputs", "shape": [4, 2], "datatype": "BYTES", "data": flat}
    oip = _post(f"{url}/v2/models/words/infer", json={"inputs": [tensor]})
    assert oip.status_code == 200, oip.text
    assert oip.json()["outputs"][0]["data"] == expected.tolist()
    csv = "\n".join(",".join(row) for row in rows) + "\n"
    as_csv = _post(f"{url}/invocations", content=csv, headers={"content-type": "text/csv"})
    assert as_csv.json()["predictions"] == expected.tolist()
    metadata = _get(f"{url}/v2/models/words").json()
    assert metadata["inputs"] == [{"name": "inputs", "datatype": "BYTES", "shape": [-1, 2]}]
