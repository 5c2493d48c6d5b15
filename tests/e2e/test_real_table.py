"""The whole loop on a real public table that no one here generated: the Palmer penguins
(``palmerpenguins``, the CSV inside the installed package). Its species is a string label,
island and sex are string categoricals, sex and the measurements have missing values (``NA``),
and its years give a later slice: 2007–2008 to train on, 2009 to check and evaluate on.

data add → data validate (2009) → pipeline run → models register → gate → serve (MLflow and
Open Inference Protocol, JSON and CSV, with missing values) → predict → feedback.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import textwrap
from importlib import resources
from pathlib import Path
from typing import Any

import httpx

from loopml.core.config import init_project
from tests.e2e.runner import cli
from tests.fixtures.model_server import start_model_server, wait_until_serving

FEATURES = [
    "island",
    "bill_length_mm",
    "bill_depth_mm",
    "flipper_length_mm",
    "body_mass_g",
    "sex",
]
SPECIES = {"Adelie", "Chinstrap", "Gentoo"}

PIPELINE = textwrap.dedent(
    """
    import loopml
    from loopml.pipelines import dataset_version
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    NUMBERS = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"]
    WORDS = ["island", "sex"]

    @loopml.step
    def train(version: loopml.core.entities.DatasetVersion) -> Pipeline:
        ref = f"{version.dataset}@{version.version}"
        frame = loopml.data.get(ref).to_arrow().to_pandas()
        frame = frame[frame["species"].notna()]
        features = ColumnTransformer([
            ("numbers", make_pipeline(SimpleImputer(), StandardScaler()), NUMBERS),
            ("words", make_pipeline(SimpleImputer(strategy="most_frequent"),
                                    OneHotEncoder(handle_unknown="ignore")), WORDS),
        ])
        model = Pipeline([("features", features), ("classify", LogisticRegression(max_iter=500))])
        return model.fit(frame[NUMBERS + WORDS], frame["species"])

    @loopml.pipeline
    def penguins(data: str = "penguins@latest") -> Pipeline:
        return train(dataset_version(ref=data))
    """
)
GATES = textwrap.dedent(
    """
    evaluation: {dataset: penguins-2009@latest, target: species}
    metrics: {accuracy: {min: 0.9}, f1: {min: 0.9}}
    slices: [{column: island, metric: accuracy, min: 0.8}]
    """
)


def expect(result: subprocess.CompletedProcess[str], code: int) -> str:
    assert result.returncode == code, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result.stdout


def penguins_rows() -> tuple[list[str], list[list[str]]]:
    """The header and rows of the CSV shipped inside the palmerpenguins package, as text."""
    shipped = resources.files("palmerpenguins").joinpath("data", "penguins.csv")
    lines = list(csv.reader(io.StringIO(shipped.read_text(encoding="utf-8"))))
    return lines[0], lines[1:]


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as stream:
        csv.writer(stream).writerows([header, *rows])
    return path


def value(text: str, column: str) -> Any:
    """A CSV cell as JSON: NA → null, measurements → numbers."""
    if text == "NA":
        return None
    return text if column in ("island", "sex") else float(text)


def test_penguins_from_data_to_feedback(tmp_path: Path) -> None:
    init_project(tmp_path)
    header, rows = penguins_rows()
    year = header.index("year")
    earlier = write_csv(tmp_path / "penguins.csv", header, [r for r in rows if r[year] < "2009"])
    later_rows = [r for r in rows if r[year] == "2009"]
    later = write_csv(tmp_path / "penguins-2009.csv", header, later_rows)
    assert any("NA" in row for row in later_rows)  # the slice the server gets has gaps

    # data: version the earlier years, check the later one against the schema inferred from
    # them (tolerant: a new year and a slightly shorter bill pass); an unknown island fails
    expect(cli("data", "add", "penguins", str(earlier), cwd=tmp_path), 0)
    checked = json.loads(expect(cli("data", "validate", "penguins", str(later), "--json",
                                    cwd=tmp_path), 0))  # fmt: skip
    assert checked["failures"] == [] and checked["rows"] == len(later_rows)
    island = header.index("island")
    odd = [[*r[:island], "Atlantis", *r[island + 1 :]] if i == 0 else r
           for i, r in enumerate(later_rows)]  # fmt: skip
    bad = write_csv(tmp_path / "penguins-bad.csv", header, odd)
    refused = json.loads(expect(cli("data", "validate", "penguins", str(bad), "--json",
                                    cwd=tmp_path), 1))  # fmt: skip
    assert {(f["column"], f["failed_rows"]) for f in refused["failures"]} == {("island", 1)}
    expect(cli("data", "add", "penguins-2009", str(later), cwd=tmp_path), 0)

    # train with a pipeline, register its model with an example holding missing values
    (tmp_path / "flows.py").write_text(PIPELINE, encoding="utf-8")
    run = json.loads(expect(cli("pipeline", "run", "flows:penguins", "--json", cwd=tmp_path), 0))
    columns = [header.index(name) for name in FEATURES]
    example = write_csv(tmp_path / "example.csv", FEATURES,
                        [[r[i] for i in columns] for r in rows[:5]])  # fmt: skip
    registered = json.loads(
        expect(
            cli("models", "register", "penguins", "--run", run["run_id"], "--step", "train",
                "--input-example", str(example), "--alias", "challenger", "--json",
                cwd=tmp_path),
            0,
        )
    )  # fmt: skip
    signature = registered["signature"]
    assert signature["outputs"] == {"kind": "tensor", "dtype": "str", "shape": [-1]}
    assert {c["name"]: (c["type"], c["missing"]) for c in signature["inputs"]["columns"]} == {
        "island": ("string", True),
        "bill_length_mm": ("double", True),
        "bill_depth_mm": ("double", True),
        "flipper_length_mm": ("double", True),  # whole numbers with gaps, read by pandas
        "body_mass_g": ("double", True),
        "sex": ("string", True),
    }

    # gate on the later year
    (tmp_path / "gates.yaml").write_text(GATES, encoding="utf-8")
    gate = cli("gate", "penguins@challenger", "--policy", "gates.yaml", "--json", cwd=tmp_path)
    assert json.loads(expect(gate, 0))["passed"] is True

    # serve: both protocols, JSON nulls and CSV NA / empty cells, string answers
    server = wait_until_serving(start_model_server(tmp_path, "penguins@challenger"))
    try:
        data = [[value(r[i], name) for i, name in zip(columns, FEATURES, strict=True)]
                for r in later_rows]  # fmt: skip
        mlflow = httpx.post(
            f"{server.url}/invocations",
            json={"dataframe_split": {"columns": FEATURES, "data": data}},
            timeout=30,
        )
        assert mlflow.status_code == 200, mlflow.text
        answered = mlflow.json()
        predictions = answered["predictions"]
        assert set(predictions) <= SPECIES and len(predictions) == len(later_rows)
        truth = [r[header.index("species")] for r in later_rows]
        assert sum(p == t for p, t in zip(predictions, truth, strict=True)) / len(truth) > 0.9

        text = "\n".join(",".join(r[i] for i in columns) for r in later_rows[:3])
        body = ",".join(FEATURES) + "\n" + text.replace("NA", "") + "\n"
        as_csv = httpx.post(f"{server.url}/invocations", content=body,
                            headers={"content-type": "text/csv"}, timeout=30)  # fmt: skip
        assert as_csv.status_code == 200, as_csv.text
        assert as_csv.json()["predictions"] == predictions[:3]

        tensors = [
            {"name": name, "shape": [len(data)],
             "datatype": "BYTES" if name in ("island", "sex") else "FP64",
             "data": [row[k] for row in data]}
            for k, name in enumerate(FEATURES)
        ]  # fmt: skip
        oip = httpx.post(
            f"{server.url}/v2/models/penguins/infer", json={"inputs": tensors}, timeout=30
        )
        assert oip.status_code == 200, oip.text
        (output,) = oip.json()["outputs"]
        assert (output["datatype"], output["data"]) == ("BYTES", predictions)
        metadata = httpx.get(f"{server.url}/v2/models/penguins", timeout=30).json()
        assert {i["name"]: i["datatype"] for i in metadata["inputs"]}["sex"] == "BYTES"
    finally:
        server.stop()

    # batch scoring agrees with the server; the true species go back as feedback
    expect(cli("predict", "penguins@challenger", "--input", str(later), "--output", "scores.csv",
               cwd=tmp_path), 0)  # fmt: skip
    scores = list(csv.DictReader((tmp_path / "scores.csv").open(encoding="utf-8")))
    assert [row["prediction"] for row in scores] == predictions
    labels = write_csv(
        tmp_path / "labels.csv",
        ["prediction_id", "label"],
        [[pid, species] for pid, species in zip(answered["prediction_ids"], truth, strict=True)],
    )
    fed = json.loads(expect(cli("feedback", str(labels), "--model", "penguins", "--json",
                                cwd=tmp_path), 0))  # fmt: skip
    assert fed["matched"] == len(truth)
