"""Real registry data for the models page's tests: the iris table (species as strings) versioned
twice (training rows, held-out rows), a pipeline that trains a scikit-learn model on it, two
registered versions of it and a gate of each under a policy that needs a passed gate and an
approval before ``champion`` moves."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import loopml
import loopml.data
import loopml.models
from loopml.core.entities import DatasetVersion
from loopml.models.gate_policy import read_policy
from loopml.models.gates import gate
from loopml.pipelines import dataset_version, run
from loopml.tracking.client import Client

MODEL = "iris-species"
FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
POLICY = """\
evaluation: {dataset: iris-holdout@latest, target: species}
metrics: {accuracy: {min: 0.8}, balanced_accuracy: {min: 0.8}}
promotion: {require_gate: true, require_approval: true}
"""


@loopml.step
def train(version: DatasetVersion, *, depth: int = 0) -> Any:
    """A logistic regression (``depth`` 0), else a decision tree that deep."""
    from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]
    from sklearn.tree import DecisionTreeClassifier  # type: ignore[import-untyped]

    frame = loopml.data.get(f"{version.dataset}@{version.version}").to_arrow().to_pandas()
    model = DecisionTreeClassifier(max_depth=depth) if depth else LogisticRegression(max_iter=300)
    return model.fit(frame[FEATURES], frame["species"])


@loopml.pipeline
def iris_training(depth: int = 0) -> Any:
    return train(dataset_version(ref="iris-train@latest"), depth=depth)


@dataclass(frozen=True)
class RegistryData:
    policy: Path
    versions: tuple[int, int]


def write_iris(folder: Path) -> tuple[Path, Path]:
    """The iris rows as two CSV files: every third row held out."""
    from sklearn.datasets import load_iris  # type: ignore[import-untyped]

    data = load_iris()
    names = [str(name) for name in data.target_names]
    rows = [
        [*(f"{value:.1f}" for value in features), names[int(label)]]
        for features, label in zip(data.data, data.target, strict=True)
    ]
    paths = (folder / "iris-train.csv", folder / "iris-holdout.csv")
    for path, part in zip(
        paths, ([r for i, r in enumerate(rows) if i % 3], rows[::3]), strict=True
    ):
        with path.open("w", newline="", encoding="utf-8") as stream:
            writer = csv.writer(stream)
            writer.writerow([*FEATURES, "species"])
            writer.writerows(part)
    return paths


def build_registry(client: Client, folder: Path) -> RegistryData:
    """Data, two trained and registered versions of MODEL (a one-split tree that fails the
    gate, then a logistic regression that passes), each gated under POLICY (written to
    ``folder/gates.yaml``); no alias moved, no approval."""
    folder.mkdir(parents=True, exist_ok=True)
    train_csv, holdout_csv = write_iris(folder)
    loopml.data.add("iris-train", train_csv, client=client)
    loopml.data.add("iris-holdout", holdout_csv, client=client)
    policy_path = folder / "gates.yaml"
    policy_path.write_text(POLICY, encoding="utf-8")
    policy = read_policy(policy_path)
    example = loopml.data.get("iris-holdout@latest", client=client).to_arrow().to_pandas()
    numbers = []
    for depth, what in ((1, "a one-split decision tree"), (0, "a logistic regression")):
        result = run(iris_training, params={"depth": depth}, client=client)
        version = loopml.models.register(
            MODEL,
            result.value("train"),
            input_example=example[FEATURES].head(5),
            run=result.run_id,
            description=what,
            explain=False,
            client=client,
        )
        gate(f"{MODEL}@{version.version}", policy, client=client)
        numbers.append(version.version)
    return RegistryData(policy_path, (numbers[0], numbers[1]))
