"""``loopml quickstart``: version the training data, then train, tune and evaluate real
scikit-learn models with a loopml pipeline, every step tracked and cached.

The breast-cancer data bundled with scikit-learn (no network) is written to
``data/breast_cancer.csv`` and versioned as dataset ``breast_cancer`` (profiled on the way in).
The pipeline (:mod:`loopml.cli.quickstart_pipeline`, copied into the project as
``quickstart_pipeline.py`` and named ``training`` in ``loopml.yaml``) goes from that dataset
version to features, tunes logistic regression and a random forest with Optuna (each trial a
nested run with per-fold AUC), refits the best of each, evaluates them on the held-out split
and picks the winner. Running it again serves every step from the cache.
"""

from __future__ import annotations

import csv
import tempfile
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
import yaml

from loopml.cli import output
from loopml.core.config import Config, init_project
from loopml.core.entities import DatasetVersion
from loopml.core.errors import BackendUnavailableError
from loopml.core.refs import format_dataset_ref
from loopml.tracking.client import Client

if TYPE_CHECKING:
    from loopml.core.entities import ModelVersion
    from loopml.data import versions
    from loopml.pipelines.runner import PipelineRun

EXPERIMENT = "quickstart"
DATASET = "breast_cancer"
TARGET = "target"  # 1 = benign, 0 = malignant, as scikit-learn codes it
PIPELINE_FILE = "quickstart_pipeline.py"
PIPELINE_NAME = "training"
PIPELINE_REF = "quickstart_pipeline:training"
MODEL = "breast-cancer"  # the registered model


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
    """Version the training data, then train, tune and evaluate real scikit-learn models
    with a loopml pipeline; every step is a tracked run and cached.

    The breast-cancer data bundled with scikit-learn (no network needed) becomes dataset
    breast_cancer@1 with its profile. The pipeline 'training' (written to the project as
    quickstart_pipeline.py, named in loopml.yaml) derives features from that version, tunes
    logistic regression and a random forest with Optuna by cross-validated AUC (each trial a
    nested run), refits and evaluates both on a held-out split, and picks the better one.
    Run the command again, or 'loopml pipeline run training', and every step comes from the
    cache.

    Examples:

        loopml quickstart
        loopml quickstart ./demo --quiet
        cd ./demo && loopml pipeline run training -p n_trials=25
    """
    try:
        import optuna  # noqa: F401
        import sklearn  # type: ignore[import-untyped]  # noqa: F401
    except ImportError as exc:
        raise BackendUnavailableError(
            "loopml quickstart trains scikit-learn models tuned with Optuna, and "
            f"{exc.name or 'one of them'} is not installed. Install both with: "
            "pip install 'loopml[sklearn,tune]'"
        ) from exc
    folder = directory.expanduser() if directory else Path(tempfile.mkdtemp(prefix="loopml-qs-"))
    config = init_project(folder)
    from loopml.data import versions

    with Client(config=config, create=False) as client:
        version = _version_data(client, folder)
        handle = versions.get(format_dataset_ref(version.dataset, version.version), client=client)
        _write_pipeline(folder)
        result = _run_pipeline(client, folder, quiet=quiet)
        outcome = result.value()
        rows = handle.to_arrow().num_rows
        registered, champion = _register_best(client, result, outcome)
    if as_json:
        from loopml.cli.pipeline import run_document

        output.print_json(
            {
                "project": str(config.root),
                "store_uri": output.redact_uri(config.store_uri),
                "artifact_uri": output.redact_uri(config.artifact_uri),
                "server_url": output.redact_uri(config.server_url) or None,
                "experiment": EXPERIMENT,
                "dataset": {"ref": handle.ref, "source": version.source, "rows": rows},
                "pipeline": run_document(result),
                "best": outcome["best"],
                "models": outcome["reports"],
                "registered": f"{registered.model}@{registered.version}",
                "champion": champion,
            }
        )
        return
    registered_line = (
        f"Registered {registered.model}@{registered.version} ({outcome['best']}); "
        f"{registered.model}@champion is version {champion}."
    )
    _print_summary(config, folder, result, outcome, handle, registered_line)


def _register_best(
    client: Client, result: PipelineRun, outcome: dict[str, Any]
) -> tuple[ModelVersion, int]:
    """Register the winning family's refitted model (with the pipeline run's lineage and its
    test metrics); on a project's first run it becomes the champion."""
    import numpy as np
    import pyarrow.compute as pc

    from loopml.core.errors import NotFoundError
    from loopml.models.registry import promote, register

    families = [report["family"] for report in outcome["reports"]]
    index = families.index(outcome["best"])
    call = "train" if index == 0 else f"train-{index + 1}"
    table = result.value("features")
    names = [n for n in table.column_names if n not in (TARGET, "split")]
    example = table.filter(pc.equal(table.column("split"), "test")).select(names).slice(0, 5)
    rows = [[float(v) for v in row.values()] for row in example.to_pylist()]
    report = outcome["reports"][index]
    version = register(
        MODEL,
        result.value(call),
        input_example=np.asarray(rows),
        run=result.run_id,
        metrics={**report["test"], "cv_auc": report["cv_auc"]},
        description=f"{outcome['best']} tuned by the quickstart pipeline",
        client=client,
    )
    try:
        return version, client.metadata.get_model_alias(MODEL, "champion")
    except NotFoundError:
        promote(f"{MODEL}@{version.version}", reason="the quickstart's first model", client=client)
        return version, version.version


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


def _write_pipeline(folder: Path) -> None:
    """The pipeline's source into the project, and its name into loopml.yaml (an existing
    file keeps its other entries; a user's own 'training' entry is left alone)."""
    source = resources.files("loopml.cli").joinpath("quickstart_pipeline.py").read_text("utf-8")
    (folder / PIPELINE_FILE).write_text(source, encoding="utf-8")
    path = folder / "loopml.yaml"
    document: dict[str, Any] = {}
    if path.is_file():
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        document = loaded if isinstance(loaded, dict) else {}
    named = document.setdefault("pipelines", {})
    if isinstance(named, dict) and PIPELINE_NAME not in named:
        named[PIPELINE_NAME] = {"ref": PIPELINE_REF, "params": {"data": f"{DATASET}@latest"}}
        path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")


def _run_pipeline(client: Client, folder: Path, *, quiet: bool) -> PipelineRun:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from loopml.pipelines.loading import load_pipeline
    from loopml.pipelines.runner import REF_TAG, StepResult, run

    pipeline = load_pipeline(PIPELINE_REF, search_path=folder)
    plan = pipeline.plan()
    progress = Progress(
        TextColumn("{task.description:<30}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=output.console(stderr=True),
        disable=quiet,
        transient=True,
    )
    with progress:
        task = progress.add_task("Running pipeline training", total=len(plan.calls))

        def advance(result: StepResult) -> None:
            state = "cached" if result.cached else "done"
            progress.update(task, advance=1, description=f"{result.call}: {state}")

        return run(
            plan,
            client=client,
            experiment=EXPERIMENT,
            tags={REF_TAG: PIPELINE_REF},
            executor="local",
            on_step=advance,
        )


def _print_summary(
    config: Config,
    folder: Path,
    result: PipelineRun,
    outcome: dict[str, Any],
    handle: versions.VersionHandle,
    registered_line: str,
) -> None:
    from rich.box import SIMPLE_HEAD
    from rich.table import Table

    from loopml.cli.data_views import profile_table
    from loopml.cli.pipeline import steps_table

    out = output.console()
    source = output.escape(handle.version.source)
    out.print(f"[bold]Training data[/]: {handle.ref}, added from {source}")
    for path, profile in handle.profiles().items():
        out.print(profile_table(path, profile, limit=6))
    out.print(steps_table(result))
    table = Table(
        title="Tuned models, evaluated on the held-out split", title_justify="left",
        box=SIMPLE_HEAD,
    )  # fmt: skip
    table.add_column("model", style="bold", overflow="fold")
    table.add_column("best params", overflow="fold")
    table.add_column("cv auc", justify="right", no_wrap=True, min_width=6)
    for key in ("accuracy", "f1", "auc"):
        table.add_column(key, justify="right", style="magenta", no_wrap=True, min_width=6)
    for report in outcome["reports"]:
        params = ", ".join(f"{k}={_short(v)}" for k, v in report["params"].items())
        cells = [output.escape(report["family"].replace("_", " ")), output.escape(params)]
        cells.append(f"{report['cv_auc']:.4f}")
        winner = report["family"] == outcome["best"]
        for key in ("accuracy", "f1", "auc"):
            text = f"{report['test'][key]:.4f}"
            cells.append(f"[bold green]{text}[/]" if winner and key == "auc" else text)
        table.add_row(*cells)
    out.print(table)
    hits = sum(1 for step in result.steps.values() if step.cached)
    out.print(
        f"Best: {outcome['best']}. Pipeline run {result.run_id}: "
        f"{len(result.steps) - hits} step(s) ran, {hits} cached.",
        markup=False,
    )
    out.print(registered_line, markup=False)
    where = config.server_url or config.store_uri
    out.print(f"Project:   {config.root}", markup=False)
    out.print(f"Pipeline:  {folder / PIPELINE_FILE} (named '{PIPELINE_NAME}' in loopml.yaml)",
              markup=False)  # fmt: skip
    out.print(f"Metadata:  {output.redact_uri(where)}", markup=False)
    if not config.server_url:
        out.print(f"Artifacts: {output.redact_uri(config.artifact_uri)}", markup=False)
    out.print()
    out.print("[bold]Try next:[/]")
    if folder.resolve() != Path.cwd().resolve():
        out.print(f"  cd {folder}", markup=False)
    for command, comment in (
        ("loopml pipeline run training", "every step from the cache"),
        ("loopml pipeline run training -p n_trials=25 --executor process", ""),
        (f"loopml pipeline rerun {result.run_id[:8]}", "same data version and params"),
        ("loopml runs list --experiment quickstart --order-by 'metrics.auc DESC'", ""),
        (f"loopml data show {DATASET}", "the training data's full profile"),
        (f"loopml models versions {MODEL}", "the registered models and their aliases"),
        ("loopml server", "the platform API on http://127.0.0.1:5000"),
    ):
        line = f"{command:<34}  # {comment}" if comment else command
        out.print(f"  {line}", markup=False)


def _short(value: object) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
