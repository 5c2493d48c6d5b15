"""``loopml quickstart``: version the training data, train real scikit-learn models, track
them, compare them.

The breast-cancer data bundled with scikit-learn (no network) is written to
``data/breast_cancer.csv`` and versioned as dataset ``breast_cancer`` (profiled on the way in);
the models train on the versioned bytes. Five classifiers: logistic regression with three
values of C and random forests of two sizes. Each run records the dataset version it used,
logs its params, accuracy / F1 / AUC as a learning curve (step = training examples used, the
last step being the whole training set), a confusion matrix and feature importances.
"""

from __future__ import annotations

import csv
import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from loopml.cli import output
from loopml.core.config import Config, init_project
from loopml.core.entities import DatasetVersion, Run
from loopml.core.errors import BackendUnavailableError
from loopml.core.refs import format_dataset_ref
from loopml.tracking.client import Client
from loopml.tracking.fluent import start_run

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    from loopml.data import versions

EXPERIMENT = "quickstart"
DATASET = "breast_cancer"
TARGET = "target"  # 1 = benign, 0 = malignant, as scikit-learn codes it
RANDOM_STATE = 42
TEST_SIZE = 0.25
TRAIN_FRACTIONS = (0.15, 0.4, 0.7, 1.0)
KNOBS = (("C", "C"), ("n_estimators", "trees"))  # (param, label) in the summary table


@dataclass(frozen=True)
class ModelSpec:
    """One model to train: its run name, its family and the hyperparameters that vary."""

    name: str
    family: str  # "logistic_regression" | "random_forest"
    params: dict[str, float | int]


SPECS = (
    ModelSpec("logreg-C0.1", "logistic_regression", {"C": 0.1}),
    ModelSpec("logreg-C1", "logistic_regression", {"C": 1.0}),
    ModelSpec("logreg-C10", "logistic_regression", {"C": 10.0}),
    ModelSpec("forest-50", "random_forest", {"n_estimators": 50}),
    ModelSpec("forest-100", "random_forest", {"n_estimators": 100}),
)


@dataclass(frozen=True)
class Dataset:
    ref: str  # the dataset version the data came from, e.g. "breast_cancer@1"
    x_train: NDArray[np.float64]
    x_test: NDArray[np.float64]
    y_train: NDArray[np.int64]
    y_test: NDArray[np.int64]
    feature_names: list[str]
    target_names: list[str]


def quickstart_command(
    directory: Annotated[
        Path | None,
        typer.Argument(help="Project folder to create (default: a new temporary folder)."),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the runs, best first, as JSON.")
    ] = False,
) -> None:
    """Version the training data, train five real scikit-learn models on it, track every run
    and compare them by AUC.

    The breast-cancer data bundled with scikit-learn (no network needed) becomes dataset
    breast_cancer@1 with its profile. Logistic regression (C = 0.1, 1, 10) and random forests
    (50, 100 trees) train on it; each run records that dataset version, logs params,
    accuracy/F1/AUC over growing training sizes, a confusion matrix and feature importances.

    Examples:

        loopml quickstart
        loopml quickstart ./demo --quiet
        cd ./demo && loopml runs list --experiment quickstart --order-by 'metrics.auc DESC'
    """
    if not quiet:
        output.console(stderr=True).print(
            f"Training {len(SPECS)} scikit-learn models on the breast-cancer data…", markup=False
        )
    try:
        import sklearn  # type: ignore[import-untyped]  # noqa: F401
    except ImportError as exc:
        raise BackendUnavailableError(
            "loopml quickstart trains scikit-learn models, and scikit-learn is not installed. "
            "Install it with: pip install 'loopml[sklearn]'"
        ) from exc
    folder = directory.expanduser() if directory else Path(tempfile.mkdtemp(prefix="loopml-qs-"))
    config = init_project(folder)
    from loopml.data import versions

    with Client(config=config, create=False) as client:
        version = _version_data(client, folder)
        handle = versions.get(format_dataset_ref(version.dataset, version.version), client=client)
        data = _load_data(handle)
        _train_all(client, data, quiet=quiet)
        runs = list(
            client.search_runs(experiment=EXPERIMENT, order_by=["metrics.auc DESC"], max_results=20)
        )
        curves = {r.id: [m.value for m in client.get_metric_history(r.id, "auc")] for r in runs}
    if as_json:
        output.print_json(
            {
                "project": str(config.root),
                "store_uri": output.redact_uri(config.store_uri),
                "artifact_uri": output.redact_uri(config.artifact_uri),
                "server_url": output.redact_uri(config.server_url) or None,
                "experiment": EXPERIMENT,
                "dataset": {
                    "ref": data.ref,
                    "source": version.source,
                    "rows": len(data.x_train) + len(data.x_test),
                    "columns": len(data.feature_names) + 1,
                },
                "runs": [output.run_to_dict(r, EXPERIMENT) for r in runs],
            }
        )
        return
    _print_summary(config, folder, runs, curves, handle)


def _version_data(client: Client, folder: Path) -> DatasetVersion:
    """Write the bundled data as CSV in the project and add it as a dataset version (no new
    version when an earlier quickstart already added the same bytes)."""
    from sklearn.datasets import load_breast_cancer  # type: ignore[import-untyped]

    from loopml.data import versions

    bunch = load_breast_cancer()
    path = folder / "data" / f"{DATASET}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow([str(name).replace(" ", "_") for name in bunch.feature_names] + [TARGET])
        for row, label in zip(bunch.data, bunch.target, strict=True):
            writer.writerow([repr(float(value)) for value in row] + [int(label)])
    message = "breast-cancer data bundled with scikit-learn"
    return versions.add(DATASET, path, message=message, client=client).version


def _load_data(handle: versions.VersionHandle) -> Dataset:
    """The train/test split of the versioned table (read back from the artifact store)."""
    import numpy as np
    from sklearn.model_selection import train_test_split  # type: ignore[import-untyped]

    table = handle.to_arrow()
    features = [name for name in table.column_names if name != TARGET]
    x = np.column_stack([table.column(name).to_numpy() for name in features]).astype(np.float64)
    y = table.column(TARGET).to_numpy().astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=TEST_SIZE, random_state=RANDOM_STATE, stratify=y
    )
    return Dataset(handle.ref, x_train, x_test, y_train, y_test, features, ["malignant", "benign"])


def _make_model(spec: ModelSpec) -> Any:  # an unfitted scikit-learn estimator
    if spec.family == "logistic_regression":
        from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]
        from sklearn.pipeline import make_pipeline  # type: ignore[import-untyped]
        from sklearn.preprocessing import StandardScaler  # type: ignore[import-untyped]

        return make_pipeline(
            StandardScaler(), LogisticRegression(C=spec.params["C"], max_iter=1000)
        )
    from sklearn.ensemble import RandomForestClassifier  # type: ignore[import-untyped]

    return RandomForestClassifier(
        n_estimators=int(spec.params["n_estimators"]), random_state=RANDOM_STATE, n_jobs=1
    )


def _train_all(client: Client, data: Dataset, *, quiet: bool) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    progress = Progress(
        TextColumn("{task.description:<28}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=output.console(stderr=True),
        disable=quiet,
        transient=True,
    )
    steps = len(SPECS) * len(TRAIN_FRACTIONS)
    with progress, tempfile.TemporaryDirectory(prefix="loopml-qs-artifacts-") as scratch:
        task = progress.add_task("Training", total=steps)
        for spec in SPECS:
            progress.update(task, description=f"Training {spec.name}")
            _train_one(
                client, spec, data, Path(scratch) / spec.name, lambda: progress.advance(task)
            )
        progress.update(task, description="Done")


def _train_one(
    client: Client,
    spec: ModelSpec,
    data: Dataset,
    scratch: Path,
    advance: Callable[[], None],
) -> None:
    from sklearn.base import clone  # type: ignore[import-untyped]
    from sklearn.metrics import (  # type: ignore[import-untyped]
        accuracy_score,
        confusion_matrix,
        f1_score,
        roc_auc_score,
    )

    params = {
        "model": spec.family,
        **spec.params,
        "dataset": data.ref,
        "test_size": TEST_SIZE,
        "random_state": RANDOM_STATE,
    }
    with start_run(experiment=EXPERIMENT, params=params, name=spec.name, client=client) as run:
        run.set_tag("source", "loopml quickstart")
        run.use_dataset(data.ref)
        template = _make_model(spec)
        model = template
        for fraction in TRAIN_FRACTIONS:
            size = max(2, round(len(data.x_train) * fraction))
            model = clone(template)
            started = time.perf_counter()
            model.fit(data.x_train[:size], data.y_train[:size])
            fit_seconds = time.perf_counter() - started
            predicted = model.predict(data.x_test)
            scores = model.predict_proba(data.x_test)[:, 1]
            metrics = {
                "accuracy": float(accuracy_score(data.y_test, predicted)),
                "f1": float(f1_score(data.y_test, predicted)),
                "auc": float(roc_auc_score(data.y_test, scores)),
                "fit_seconds": fit_seconds,
            }
            run.log_metrics(metrics, step=size)
            advance()
        scratch.mkdir(parents=True, exist_ok=True)
        matrix = confusion_matrix(data.y_test, model.predict(data.x_test)).tolist()
        matrix_file = scratch / "confusion_matrix.json"
        matrix_file.write_text(
            json.dumps({"labels": data.target_names, "matrix": matrix}, indent=2),
            encoding="utf-8",
        )
        run.log_artifact(matrix_file)
        run.log_artifact(_write_importances(model, data.feature_names, scratch))


def _write_importances(model: Any, feature_names: list[str], scratch: Path) -> Path:
    """feature_importance.csv: forest importances, or |coefficient| on standardised inputs."""
    importances = getattr(model, "feature_importances_", None)
    column = "importance"
    if importances is None:
        coefficients = model[-1].coef_[0]
        importances = [abs(float(c)) for c in coefficients]
        column = "abs_coefficient"
    rows = sorted(zip(feature_names, importances, strict=True), key=lambda r: -float(r[1]))
    path = scratch / "feature_importance.csv"
    with path.open("w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["feature", column])
        writer.writerows([name, f"{float(value):.6g}"] for name, value in rows)
    return path


def _print_summary(
    config: Config,
    folder: Path,
    runs: list[Run],
    curves: dict[str, list[float]],
    handle: versions.VersionHandle,
) -> None:
    from rich.box import SIMPLE_HEAD
    from rich.table import Table

    from loopml.cli.data_views import profile_table

    out = output.console()
    source = output.escape(handle.version.source)
    out.print(f"[bold]Training data[/]: {handle.ref}, added from {source}")
    for path, profile in handle.profiles().items():
        out.print(profile_table(path, profile, limit=6))
    table = Table(title="Quickstart runs, best AUC first", title_justify="left", box=SIMPLE_HEAD)
    table.add_column("run", style="bold", no_wrap=True)
    table.add_column("id", style="dim", no_wrap=True)
    table.add_column("param", no_wrap=True)
    for key in ("accuracy", "f1", "auc"):
        table.add_column(key, justify="right", style="magenta", no_wrap=True)
    table.add_column("auc curve", no_wrap=True)
    for rank, run in enumerate(runs, start=1):
        knob = next((f"{label}={run.params[k]}" for k, label in KNOBS if k in run.params), "")
        cells = [output.escape(run.name), output.short_id(run.id), output.escape(knob)]
        for key in ("accuracy", "f1", "auc"):
            text = f"{run.metrics[key]:.4f}" if key in run.metrics else ""
            cells.append(f"[bold green]{text}[/]" if rank == 1 and key == "auc" else text)
        cells.append(output.sparkline(curves.get(run.id, []), width=len(TRAIN_FRACTIONS)))
        table.add_row(*cells)
    out.print(table)
    where = config.server_url or config.store_uri
    out.print(f"Project:   {config.root}", markup=False)
    out.print(f"Metadata:  {output.redact_uri(where)}", markup=False)
    if not config.server_url:
        out.print(f"Artifacts: {output.redact_uri(config.artifact_uri)}", markup=False)
    out.print()
    out.print("[bold]Try next:[/]")
    if folder.resolve() != Path.cwd().resolve():
        out.print(f"  cd {folder}", markup=False)
    best = runs[0].id[:8] if runs else "RUN_ID"
    second = runs[1].id[:8] if len(runs) > 1 else "RUN_ID"
    for line in (
        "loopml runs list --experiment quickstart --order-by 'metrics.auc DESC'",
        f"loopml data show {DATASET}      # the full profile of the training data",
        f"loopml runs show {best}",
        f"loopml runs compare {best} {second}",
        "loopml runs list --filter \"params.model = 'random_forest'\" --json",
        "loopml server      # the platform API on http://127.0.0.1:5000",
    ):
        out.print(f"  {line}", markup=False)
