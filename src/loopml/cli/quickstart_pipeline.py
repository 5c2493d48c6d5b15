"""The quickstart's training pipeline (``loopml quickstart`` copies this file into the project
as ``pipelines.py`` and names it ``training`` in ``loopml.yaml``).

    dataset version → features → [search → train → evaluate] per model family → choose

Each model family is tuned with Optuna by cross-validated AUC on the training split (every
trial a nested run), refit with the best params, and evaluated on the held-out split; the
best family wins. Every step is cached: run it again and only what changed runs.

    loopml pipeline run training                      # all from the cache
    loopml pipeline run training -p n_trials=25       # a longer search (features are reused)
    loopml pipeline run training --executor process   # the two families side by side

``retraining`` is the same training ending in a step that registers the better model (what
the loop's agent runs when drift or decay calls for a new model: ``loopml quickstart --loop``).
Its models are fitted on named columns (with pandas installed) and registered with them, so
the server logs named inputs and live monitoring compares each with the training data's.
"""

from __future__ import annotations

import csv
import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

import loopml
import loopml.data
import loopml.models
from loopml.core.entities import DatasetVersion
from loopml.pipelines import cross_validate, dataset_version, integer, loguniform

# scikit-learn is imported inside the steps that run it, and the search spaces (Optuna
# distributions) are built by the step that searches: a run whose every step is a cache hit
# imports neither (it starts in a fraction of the time).

TARGET = "target"  # 1 = benign, 0 = malignant, as scikit-learn codes it
FAMILIES = ("logistic_regression", "random_forest")


@loopml.step
def features(version: DatasetVersion, *, test_size: float = 0.25, seed: int = 42) -> pa.Table:
    """The versioned table with a stratified ``split`` column ("train" / "test")."""
    table = loopml.data.get(f"{version.dataset}@{version.version}").to_arrow()
    from sklearn.model_selection import train_test_split  # type: ignore[import-untyped]

    labels = table.column(TARGET).to_numpy()
    rows = np.arange(table.num_rows)
    _, test_rows = train_test_split(rows, test_size=test_size, random_state=seed, stratify=labels)
    split = np.full(table.num_rows, "train", dtype=object)
    split[test_rows] = "test"
    return table.append_column("split", pa.array(split.tolist(), pa.string()))


def matrices(table: pa.Table, split: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Features, labels and feature names of one split."""
    chosen = table.filter(pc.equal(table.column("split"), split))
    names = [name for name in chosen.column_names if name not in (TARGET, "split")]
    x = np.column_stack([chosen.column(name).to_numpy() for name in names]).astype(np.float64)
    return x, chosen.column(TARGET).to_numpy().astype(np.int64), names


def named(x: np.ndarray, names: list[str], named_columns: bool = True) -> Any:
    """The features as named columns (a pandas DataFrame) if ``named_columns`` and pandas is
    installed, else the array: a model fitted on named columns takes named columns, and so is
    served, logged and monitored column by column."""
    if not named_columns:
        return x
    try:
        import pandas as pd  # type: ignore[import-untyped]
    except ImportError:
        return x
    return pd.DataFrame(x, columns=names)


def input_example(table: pa.Table, *, named_columns: bool) -> Any:
    """Five test rows, as the models take them (what a registered version keeps as its
    example, and its signature is inferred from)."""
    x, _, names = matrices(table, "test")
    return named(x[:5], names, named_columns)


def make_model(family: str, params: dict[str, Any], seed: int) -> Any:
    """An unfitted estimator of ``family`` with ``params``."""
    from sklearn.ensemble import RandomForestClassifier  # type: ignore[import-untyped]
    from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]
    from sklearn.pipeline import make_pipeline  # type: ignore[import-untyped]
    from sklearn.preprocessing import StandardScaler  # type: ignore[import-untyped]

    if family == "logistic_regression":
        return make_pipeline(StandardScaler(), LogisticRegression(C=params["C"], max_iter=1000))
    return RandomForestClassifier(
        n_estimators=params["n_estimators"],
        max_depth=params["max_depth"],
        random_state=seed,
        n_jobs=1,
    )


def space(family: str) -> dict[str, Any]:
    """What the search of ``family`` tunes, and over which range."""
    if family == "logistic_regression":
        return {"C": loguniform(1e-3, 1e2)}
    return {"n_estimators": integer(10, 60), "max_depth": integer(2, 12)}


@loopml.step
def search(table: pa.Table, *, family: str, n_trials: int = 10, seed: int = 42) -> dict[str, Any]:
    """Tune ``family`` by 3-fold cross-validated AUC on the training split."""
    x, y, _ = matrices(table, "train")

    def objective(params: dict[str, Any], trial: Any) -> float:
        model = make_model(family, params, seed)
        return cross_validate(model, x, y, cv=3, scoring=("roc_auc",), run=trial.run)["roc_auc"]

    result = loopml.tune(
        objective, space(family), n_trials=n_trials, seed=seed, name=family, executor="local"
    )
    return {"family": family, "params": result.best_params, "cv_auc": result.best_value}


@loopml.step
def train(
    table: pa.Table, chosen: dict[str, Any], *, seed: int = 42, named_columns: bool = False
) -> Any:
    """Refit the chosen family with its best params on the whole training split (a fitted
    scikit-learn estimator, stored with skops: its type is read from the value)."""
    x, y, names = matrices(table, "train")
    step_run = loopml.active_run()
    if step_run is not None:
        step_run.log_params({"model": chosen["family"], **chosen["params"]})
    model = make_model(chosen["family"], chosen["params"], seed)
    return model.fit(named(x, names, named_columns), y)


@loopml.step
def evaluate(
    model: Any, table: pa.Table, chosen: dict[str, Any], *, named_columns: bool = False
) -> dict[str, Any]:
    """Test-split accuracy, F1 and AUC (metrics of this step's run, with its confusion matrix
    and feature importances as artifacts)."""
    from sklearn.metrics import (  # type: ignore[import-untyped]
        accuracy_score,
        confusion_matrix,
        f1_score,
        roc_auc_score,
    )

    x, y, names = matrices(table, "test")
    x = named(x, names, named_columns)
    predicted = model.predict(x)
    metrics = {
        "accuracy": float(accuracy_score(y, predicted)),
        "f1": float(f1_score(y, predicted)),
        "auc": float(roc_auc_score(y, model.predict_proba(x)[:, 1])),
    }
    step_run = loopml.active_run()
    if step_run is not None:
        step_run.log_metrics(metrics)
        with tempfile.TemporaryDirectory() as scratch:
            folder = Path(scratch)
            matrix = confusion_matrix(y, predicted).tolist()
            report = {"labels": ["malignant", "benign"], "matrix": matrix}
            (folder / "confusion_matrix.json").write_text(json.dumps(report, indent=2))
            step_run.log_artifact(folder / "confusion_matrix.json")
            step_run.log_artifact(importances(model, names, folder))
    return {**chosen, "test": metrics}


def importances(model: Any, names: list[str], folder: Path) -> Path:
    """feature_importance.csv: forest importances, or |coefficient| on standardised inputs."""
    values = getattr(model, "feature_importances_", None)
    column = "importance"
    if values is None:
        values = [abs(float(c)) for c in model[-1].coef_[0]]
        column = "abs_coefficient"
    rows = sorted(zip(names, values, strict=True), key=lambda row: -float(row[1]))
    path = folder / "feature_importance.csv"
    with path.open("w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["feature", column])
        writer.writerows([name, f"{float(value):.6g}"] for name, value in rows)
    return path


@loopml.step
def choose(first: dict[str, Any], second: dict[str, Any]) -> dict[str, Any]:
    """The family with the best test AUC, and every family's report."""
    best = max((first, second), key=lambda report: report["test"]["auc"])
    return {"best": best["family"], "reports": [first, second]}


@loopml.pipeline
def training(data: str = "breast_cancer@latest", n_trials: int = 10, seed: int = 42) -> Any:
    table = features(dataset_version(ref=data), seed=seed)
    reports = []
    for family in FAMILIES:
        chosen = search(table, family=family, n_trials=n_trials, seed=seed)
        reports.append(evaluate(train(table, chosen, seed=seed), table, chosen))
    return choose(*reports)


@loopml.step(cache=False)  # every run registers: a cached step would register nothing
def register_best(
    outcome: dict[str, Any], table: pa.Table, first: Any, second: Any, *, model: str
) -> dict[str, Any]:
    """Register the chosen family's model as the next version of ``model``, linked to this
    pipeline run (so to the dataset version it read: live drift's reference), with its test
    metrics and five test rows as its input example."""
    from importlib.util import find_spec

    index = FAMILIES.index(outcome["best"])
    report = outcome["reports"][index]
    step_run = loopml.active_run()
    version = loopml.models.register(
        model,
        (first, second)[index],
        input_example=input_example(table, named_columns=True),
        run=step_run.parent_run_id if step_run is not None else None,
        metrics={**report["test"], "cv_auc": report["cv_auc"]},
        description=f"{outcome['best']} retrained by the quickstart's retraining pipeline",
        onnx=all(find_spec(name) is not None for name in ("skl2onnx", "onnxruntime")),
        client=step_run.client if step_run is not None else None,
    )
    return {"model": version.model, "version": version.version, "family": outcome["best"]}


@loopml.pipeline
def retraining(
    data: str = "breast_cancer@latest",
    n_trials: int = 5,
    seed: int = 42,
    model: str = "breast-cancer",
) -> Any:
    table = features(dataset_version(ref=data), seed=seed)
    models, reports = [], []
    for family in FAMILIES:
        chosen = search(table, family=family, n_trials=n_trials, seed=seed)
        models.append(train(table, chosen, seed=seed, named_columns=True))
        reports.append(evaluate(models[-1], table, chosen, named_columns=True))
    return register_best(choose(*reports), table, *models, model=model)
