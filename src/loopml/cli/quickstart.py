"""``loopml quickstart``: version the training data, then train, tune and evaluate real
scikit-learn models with a loopml pipeline, every step tracked and cached.

The breast-cancer data bundled with scikit-learn (no network): a fifth is held out as
dataset ``breast_cancer_holdout`` (what gates score on), the rest is written to
``data/breast_cancer.csv`` and versioned as dataset ``breast_cancer`` (profiled on the way in).
The pipeline (:mod:`loopml.cli.quickstart_pipeline`, copied into the project as
``quickstart_pipeline.py`` and named ``training`` in ``loopml.yaml``) goes from that dataset
version to features, tunes logistic regression and a random forest with Optuna (each trial a
nested run with per-fold AUC), refits the best of each, evaluates them on a test split and
picks the winner, which is registered (with its checked ONNX conversion when the ONNX extra
is installed: what ``predict`` and ``serve`` then use), gated against the champion under the
project's ``gates.yaml`` and promoted. Run again in the same folder, a mislabelled batch
arrives: its model fails the gate, promotion is refused, forced, and rolled back.
"""

from __future__ import annotations

import contextlib
import csv
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from loopml.cli import output
from loopml.cli.quickstart_card import print_audit, print_card, verify_audit, write_card
from loopml.cli.quickstart_data import DATASET, HOLDOUT, TARGET, write_example_data
from loopml.cli.quickstart_serving import START_TIMEOUT, LiveServer, ServingStory
from loopml.core.config import Config, find_root, init_project
from loopml.core.entities import DatasetVersion
from loopml.core.errors import BackendUnavailableError
from loopml.core.refs import format_dataset_ref
from loopml.stores.scratch import scratch_prefix
from loopml.tracking.client import Client

if TYPE_CHECKING:
    from loopml.core.entities import GateResult, ModelVersion
    from loopml.data import versions
    from loopml.pipelines.runner import PipelineRun

EXPERIMENT = "quickstart"
PIPELINE_FILE = "quickstart_pipeline.py"
PIPELINE_NAME = "training"
PIPELINE_REF = "quickstart_pipeline:training"
MODEL = "breast-cancer"  # the registered model
CHAMPION = "champion"
HOLDOUT_MESSAGE = "a fifth of the bundled data, held out for gates"
BAD_BATCH_MESSAGE = "a new labelling batch: a third of the malignant cases marked benign"
POLICY_FILE = "gates.yaml"
SETTLE_SECONDS = 1.0
POLICY = f"""\
# What a {MODEL} model must show before it becomes champion (loopml gate --help).
evaluation:
  dataset: {HOLDOUT}@latest   # held out: the pipeline never trains on it
  target: {TARGET}
metrics:
  accuracy: {{min: 0.90}}
  roc_auc: {{min: 0.95}}
champion:
  alias: {CHAMPION}
  must_beat: {{accuracy: 0.0}}   # at least as accurate, both models scored here
  schema_compatible: true
slices:                          # no third of the tumours by size much worse
  - {{column: mean_radius, bins: 3, metric: accuracy, min: 0.85}}
latency: {{p95_ms: 250}}          # one row, on the model's input example
promotion:
  require_gate: true             # 'loopml models promote' needs a passed gate
"""


def quickstart_command(
    directory: Annotated[
        Path | None,
        typer.Argument(
            help="Project folder (created if need be; default: the project you are in, "
            "else a new temporary folder)."
        ),
    ] = None,
    data_only: Annotated[
        bool,
        typer.Option(
            "--data-only",
            help="Only write the example data (data/breast_cancer.csv and "
            "data/breast_cancer_holdout.csv) into the folder, for the docs' examples.",
        ),
    ] = False,
    loop: Annotated[
        bool,
        typer.Option(
            "--loop",
            help="Then show the closed loop: serve the champion, replay drifted traffic with "
            "labels fed back, let the agent retrain, gate and promote, promote a worse model "
            "and watch it rolled back; ends with 'loopml loop log' (a few minutes).",
        ),
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the runs, best first, as JSON.")
    ] = False,
) -> None:
    """Version the training data, then train, tune and evaluate real scikit-learn models
    with a loopml pipeline; every step is a tracked run and cached.

    The breast-cancer data bundled with scikit-learn (no network needed) becomes dataset
    breast_cancer@1 with its profile, a fifth held out as breast_cancer_holdout@1. The
    pipeline 'training' (written to the project as quickstart_pipeline.py, named in
    loopml.yaml) derives features from that version, tunes logistic regression and a random
    forest with Optuna by cross-validated AUC (each trial a nested run), refits and evaluates
    both, and picks the better one. It is registered as breast-cancer@N, gated against the
    champion under the project's gates.yaml (scored on the held-out data) and promoted.

    Run it again in the same folder: a mislabelled data batch arrives (breast_cancer@2), its
    model fails the gate, promotion is refused, then forced and rolled back — see 'loopml
    models alias history breast-cancer'. 'loopml pipeline run training' reruns from cache.

    With --loop (in a new folder: after the first run) the loop closes on live traffic:
    the champion is served, traffic drifts (a new scanner) and its labels, fed back, follow
    a new protocol; monitoring sees drift and decay, 'loopml agent' retrains on the labelled
    traffic, gates and promotes; a worse model promoted by hand is rolled back by the
    agent's rollback guard. It needs pandas and the 'serve' extra.

    Without DIRECTORY it runs in the project you are in (see 'loopml init'), else in a new
    temporary folder; it prints where.

    Examples:

        loopml quickstart ./demo
        loopml init && loopml quickstart      # in this project: 'loopml runs list' shows it
        loopml quickstart --data-only         # just the CSV files, into ./data
        loopml quickstart ./demo --quiet      # the second run: a gate fails, a rollback
        loopml quickstart ./demo --loop       # drift, decay, the agent retrains, a rollback
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
    folder, temporary = _project_folder(directory, data_only=data_only)
    if data_only:
        files = write_example_data(folder)
        for path in (files.train, files.holdout):
            output.console().print(f"Wrote {path}", markup=False)
        return
    with _removed_on_failure(folder if temporary else None):
        if loop:
            from loopml.cli.quickstart_loop import quickstart_loop

            quickstart_loop(
                folder, quiet=quiet, as_json=as_json, model=MODEL, alias=CHAMPION,
                first_run=lambda: _quickstart(folder, quiet=quiet, as_json=as_json, show=False),
            )  # fmt: skip
            return
        _quickstart(folder, quiet=quiet, as_json=as_json)


@contextlib.contextmanager
def _removed_on_failure(folder: Path | None) -> Iterator[None]:
    """A temp project that failed or was interrupted (Ctrl-C) is removed; a finished one stays
    for the user to explore (``loopml gc`` removes it once it is older than its grace period
    and this process has ended)."""
    try:
        yield
    except BaseException:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
        raise


def _quickstart(folder: Path, *, quiet: bool, as_json: bool, show: bool = True) -> None:
    config = init_project(folder)
    from loopml.data import versions

    with Client(config=config, create=False) as client:
        second = _has_champion(client)
        version = _version_data(client, folder, bad_batch=second)
        handle = versions.get(format_dataset_ref(version.dataset, version.version), client=client)
        _write_pipeline(folder)
        _write_policy(folder)
        result = _run_pipeline(client, folder, quiet=quiet)
        outcome = result.value()
        rows = handle.to_arrow().num_rows
        first = None if second else _first_champion(client, folder, result, outcome)
        registered = _register(client, result, outcome, outcome["best"])
        with _live_server(client, folder, quiet=quiet) as live:
            story = _gate_and_promote(client, folder, registered, live)
        serving = live.story if live is not None else None
        card = write_card(client, registered, folder)
        audit = verify_audit(client)
    if not show:
        return
    if as_json:
        from loopml.cli.gate import gate_result_dict
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
                "gate": gate_result_dict(story.gate),
                "promoted": story.promoted,
                "blocked": story.blocked,
                "rolled_back": story.rolled_back,
                "champion": story.champion,
                "first_champion": first,
                "serving": asdict(serving) if serving is not None else None,
                "model_card": str(card),
                "audit": {"entries": audit.entries, "head": str(audit.head), "verified": True},
            }
        )
        return
    _print_summary(config, folder, result, outcome, handle, registered, story, first, serving)
    print_card(card, registered)
    print_audit(audit)


def _project_folder(directory: Path | None, *, data_only: bool) -> tuple[Path, bool]:
    """``directory``; else the project the working directory is in (so that the next
    commands, run here, find the quickstart's runs); else the working directory for
    --data-only, or a new temporary folder (True: it is one)."""
    if directory is not None:
        return directory.expanduser(), False
    root = find_root()
    if root is not None:
        return root.parent, False
    if data_only:
        return Path.cwd(), False
    return Path(tempfile.mkdtemp(prefix=scratch_prefix("qs"))), True


@dataclass(frozen=True)
class Story:
    """What happened to the registered version: its gate, and the champion after it."""

    gate: GateResult
    champion: int
    promoted: bool
    blocked: str | None = None  # why promotion was refused
    rolled_back: bool = False  # the forced promotion was undone


def _has_champion(client: Client) -> bool:
    from loopml.core.errors import NotFoundError

    try:
        client.metadata.get_model_alias(MODEL, CHAMPION)
    except NotFoundError:
        return False
    return True


def _gate_and_promote(
    client: Client, folder: Path, registered: ModelVersion, live: LiveServer | None
) -> Story:
    """Gate the new version against the champion under the project's gates.yaml and promote
    it if it passed. If it failed, show what an override costs: promote it by force (kept in
    the alias history with its reason), then roll the champion back. ``live`` serves the
    champion meanwhile: each move is waited for until it answers with the new version."""
    from loopml.core.errors import PromotionBlockedError
    from loopml.models.gate_policy import read_policy
    from loopml.models.gates import gate
    from loopml.models.promotion import promote
    from loopml.models.registry import rollback

    def swapped(version: int | None) -> None:
        if live is not None and version is not None:
            live.wait_for_version(version)

    policy = read_policy(folder / POLICY_FILE)
    ref = f"{registered.model}@{registered.version}"
    result = gate(ref, policy, client=client)
    try:
        change = promote(ref, policy=policy, reason="passed the quickstart gate", client=client)
        swapped(change.to_version)
        return Story(result, int(change.to_version or 0), promoted=True)
    except PromotionBlockedError as blocked:
        reason = "the quickstart shows an override of a failed gate"
        forced = promote(ref, policy=policy, force=True, reason=reason, client=client)
        swapped(forced.to_version)
        back = rollback(MODEL, reason=f"{ref} failed its gate", client=client)
        swapped(back.to_version)
        return Story(
            result, int(back.to_version or 0), False, blocked=blocked.message, rolled_back=True
        )


def _first_champion(
    client: Client, folder: Path, result: PipelineRun, outcome: dict[str, Any]
) -> str | None:
    """In a new project, the runner-up family becomes the first champion (if it passes the
    gate), so the winner is gated against it and swapped in live. Its reference, or None."""
    from loopml.core.errors import PromotionBlockedError
    from loopml.models.gate_policy import read_policy
    from loopml.models.gates import gate
    from loopml.models.promotion import promote

    runner_up = next(r["family"] for r in outcome["reports"] if r["family"] != outcome["best"])
    version = _register(client, result, outcome, runner_up)
    ref = f"{version.model}@{version.version}"
    policy = read_policy(folder / POLICY_FILE)
    gate(ref, policy, client=client)
    try:
        promote(ref, policy=policy, reason="the quickstart's first champion", client=client)
    except PromotionBlockedError:
        return None
    return ref


@contextlib.contextmanager
def _live_server(client: Client, folder: Path, *, quiet: bool) -> Iterator[LiveServer | None]:
    """``loopml serve MODEL@champion`` answering held-out rows while the alias moves, or
    None without the 'serve' extra (or without a champion to serve)."""
    try:
        import httpx  # noqa: F401
        import orjson  # noqa: F401
        import prometheus_client  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        if not quiet:
            output.console(stderr=True).print(
                "Serving skipped: pip install 'loopml[serve]' to see the champion served.",
                style="yellow",
            )
        yield None
        return
    if not _has_champion(client):
        yield None
        return
    champion = client.metadata.get_model_alias(MODEL, CHAMPION)
    rows = _holdout_rows(folder)
    with LiveServer(folder, f"{MODEL}@{CHAMPION}", rows) as live:
        live.wait_for_version(champion, timeout=START_TIMEOUT)
        yield live
        time.sleep(SETTLE_SECONDS)  # the new champion answers a while before the server stops
    live.read_log(client)


def _holdout_rows(folder: Path) -> list[list[float]]:
    with (folder / "data" / f"{HOLDOUT}.csv").open(encoding="utf-8", newline="") as stream:
        reader = csv.reader(stream)
        header = next(reader)
        features = [i for i, name in enumerate(header) if name != TARGET]
        return [[float(row[i]) for i in features] for row in reader]


def _register(
    client: Client, result: PipelineRun, outcome: dict[str, Any], family: str
) -> ModelVersion:
    """Register ``family``'s refitted model (with the pipeline run's lineage and its test
    metrics)."""
    from loopml.cli.quickstart_pipeline import input_example
    from loopml.models.registry import register

    families = [report["family"] for report in outcome["reports"]]
    index = families.index(family)
    call = "train" if index == 0 else f"train-{index + 1}"
    report = outcome["reports"][index]
    return register(
        MODEL,
        result.value(call),
        input_example=input_example(result.value("features"), named_columns=False),
        run=result.run_id,
        metrics={**report["test"], "cv_auc": report["cv_auc"]},
        description=f"{family} tuned by the quickstart pipeline",
        onnx=_onnx_installed(),
        client=client,
    )


def _onnx_installed() -> bool:
    """Whether the ONNX extra is there: then the model is registered with its checked ONNX
    conversion too, which predict and serve prefer (they start without scikit-learn)."""
    from importlib.util import find_spec

    return all(find_spec(name) is not None for name in ("skl2onnx", "onnxruntime"))


def _version_data(client: Client, folder: Path, *, bad_batch: bool) -> DatasetVersion:
    """Hold out a fifth of the bundled data as dataset breast_cancer_holdout (what gates
    score on) and version the rest as breast_cancer (what the pipeline trains on). With
    ``bad_batch`` a new training version arrives in which a labelling job marked a third of
    the malignant cases benign. Adding the same bytes again makes no new version."""
    from loopml.data import versions

    files = write_example_data(folder, bad_batch=bad_batch)
    versions.add(HOLDOUT, files.holdout, message=HOLDOUT_MESSAGE, client=client)
    message = BAD_BATCH_MESSAGE if bad_batch else "breast-cancer data bundled with scikit-learn"
    return versions.add(DATASET, files.train, message=message, client=client).version


def _write_policy(folder: Path) -> None:
    """The quickstart's gate policy as the project's gates.yaml (an existing one is kept)."""
    path = folder / POLICY_FILE
    if not path.exists():
        path.write_text(POLICY, encoding="utf-8")


def _write_pipeline(folder: Path) -> None:
    """The pipeline's source into the project, and its name into loopml.yaml (an existing
    file keeps its other entries; a user's own 'training' entry is left alone)."""
    import yaml  # here: every loopml command imports this module

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
    registered: ModelVersion,
    story: Story,
    first: str | None,
    serving: ServingStory | None,
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
    if first is not None:
        out.print(f"Registered {first} (the runner-up) as the first champion.", markup=False)
    _print_story(registered, outcome["best"], story)
    if serving is not None:
        _print_serving(serving)
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
        (f"loopml gate {MODEL}@{registered.version}", "the gate again, under gates.yaml"),
        (f"loopml models alias history {MODEL}", "every champion move and why"),
        (f"loopml serve {MODEL}@{CHAMPION}", "the champion on http://127.0.0.1:8080"),
        (f"loopml monitor predictions {MODEL}", "what it answered, with labels"),
        ("loopml server", "the platform API on http://127.0.0.1:5000"),
    ):
        line = f"{command:<34}  # {comment}" if comment else command
        out.print(f"  {line}", markup=False)


def _print_story(registered: ModelVersion, family: str, story: Story) -> None:
    from loopml.cli.gate import print_gate_result

    out = output.console()
    ref = f"{registered.model}@{registered.version}"
    out.print(f"Registered {ref} ({family}); gated against the champion:", markup=False)
    print_gate_result(story.gate)
    if story.promoted:
        out.print(f"{MODEL}@{CHAMPION} is now version {story.champion}.", markup=False)
        return
    out.print(f"[red]Not promoted[/]: {output.escape(story.blocked)}")
    out.print(
        f"Forced anyway (loopml models promote {ref} --force --reason …), then rolled back: "
        f"{MODEL}@{CHAMPION} is version {story.champion} again.",
        markup=False,
    )


def _print_serving(serving: ServingStory) -> None:
    from rich.box import SIMPLE_HEAD
    from rich.table import Table

    out = output.console()
    moves = " → ".join(f"{label} ({count})" for label, count in serving.versions)
    out.print(
        f"Served {MODEL}@{CHAMPION} on {serving.url} while the alias moved: "
        f"{serving.answered:,} requests answered, {serving.failed} failed; answered by {moves}.",
        markup=False,
        soft_wrap=True,
    )
    for failure in serving.failures:
        out.print(f"  failed: {failure}", style="red", markup=False, soft_wrap=True)
    table = Table(
        title=f"Its prediction log: {serving.logged:,} rows (newest first)",
        title_justify="left",
        box=SIMPLE_HEAD,
    )
    for name in ("time", "prediction id", "version", "prediction", "latency"):
        table.add_column(name, no_wrap=name != "prediction id", overflow="fold")
    for row in serving.newest:
        table.add_row(
            row["time"][11:23],
            row["prediction_id"],
            row["model_version"],
            str(row["prediction"]),
            f"{row['latency_ms']:.2f} ms",
        )
    out.print(table)


def _short(value: object) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
