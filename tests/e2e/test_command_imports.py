"""What the commands that load a model import (issue 13, item 21): a fully cached run of the
quickstart pipeline imports neither scikit-learn nor skops nor Optuna; ``predict`` and ``gate``
on a version's ONNX variant import no scikit-learn, skops, onnx or pandas; scoring or gating
natively never pulls pytest in (skops' scan of every estimator, skipped by the snapshot); and
none of them, on a SQLite store already migrated, imports the PostgreSQL side of SQLAlchemy,
psycopg or Alembic. A listing command (``runs list``, ``models list``, ``data list``,
``experiments list``) imports its own command module and none of the other ~30 (issue 18: the
CLI's start-up), nor what only writing a run needs (its system tags: git, platform).

Each command runs as a user runs it with ``PYTHONPROFILEIMPORTTIME=1``; the test reads the
modules it imported from stderr. No timing is asserted: only what is imported.
"""

from __future__ import annotations

import csv
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

import loopml.models
from loopml.cli.main import COMMANDS
from loopml.cli.quickstart_data import DATASET, HOLDOUT, TARGET, write_example_data
from loopml.core.config import init_project
from loopml.data import versions
from loopml.tracking.client import Client
from tests.e2e.runner import cli
from tests.fixtures.model_server import start_model_server, wait_until_serving

MODEL = "cancer"
POLICY = f"""evaluation: {{dataset: {HOLDOUT}@latest, target: {TARGET}}}
metrics: {{accuracy: {{min: 0.5}}}}
"""
PIPELINE = ("pipeline", "run", "quickstart_pipeline:training", "-p", "n_trials=1")
# what a SQLite store, migrated already, never needs
POSTGRES_OR_MIGRATIONS = {"sqlalchemy.dialects.postgresql", "psycopg", "alembic"}


@dataclass(frozen=True)
class Project:
    folder: Path
    env: dict[str, str]  # the user's cache folder (skops' snapshot) inside the project

    def imports(self, *args: str) -> set[str]:
        """The modules ``loopml ARGS`` imported (it must succeed)."""
        env = {**self.env, "PYTHONPROFILEIMPORTTIME": "1"}
        done = expect(cli(*args, cwd=self.folder, env=env, timeout=300))
        return imported_modules(done.stderr)


def imported_modules(stderr: str) -> set[str]:
    """The modules a ``PYTHONPROFILEIMPORTTIME=1`` process reported importing."""
    return {
        line.rsplit("|", 1)[1].strip()
        for line in stderr.splitlines()
        if line.startswith("import time:") and "cumulative" not in line
    }


def expect(done: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout}\n{done.stderr[-3000:]}"
    return done


def _rows(holdout: Path, target: Path) -> None:
    """The holdout's feature columns (no label), as predict reads them."""
    with holdout.open(encoding="utf-8", newline="") as source:
        rows = list(csv.reader(source))
    keep = [i for i, name in enumerate(rows[0]) if name != TARGET]
    with target.open("w", encoding="utf-8", newline="") as out:
        csv.writer(out).writerows([row[i] for i in keep] for row in rows[:21])


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    """The quickstart's data and pipeline (run once, so the next run is all cache hits), and
    a logistic regression registered with its ONNX variant, with a gate policy."""
    from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]
    from sklearn.pipeline import make_pipeline  # type: ignore[import-untyped]
    from sklearn.preprocessing import StandardScaler  # type: ignore[import-untyped]

    folder = tmp_path_factory.mktemp("imports")
    config = init_project(folder)
    files = write_example_data(folder)
    source = resources.files("loopml.cli").joinpath("quickstart_pipeline.py").read_text("utf-8")
    (folder / "quickstart_pipeline.py").write_text(source, encoding="utf-8")
    (folder / "gates.yaml").write_text(POLICY, encoding="utf-8")
    _rows(files.holdout, folder / "rows.csv")
    table = np.genfromtxt(files.train, delimiter=",", names=True)
    names = [name for name in table.dtype.names or () if name != TARGET]
    x = np.column_stack([table[name] for name in names])
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    model.fit(x, table[TARGET].astype(int))
    with Client(config=config, create=False) as client:
        versions.add(DATASET, files.train, client=client)
        versions.add(HOLDOUT, files.holdout, client=client)
        loopml.models.register(MODEL, model, input_example=x[:5], onnx=True, client=client)
    made = Project(folder, {"XDG_CACHE_HOME": str(folder / "user-cache")})
    expect(cli(*PIPELINE, cwd=folder, env=made.env, timeout=600))  # fills the step cache
    yield made


def test_a_fully_cached_pipeline_run_imports_no_scikit_learn(project: Project) -> None:
    imported = project.imports(*PIPELINE)
    assert "loopml.pipelines.runner" in imported  # it did run the pipeline
    heavy = {"sklearn", "skops", "optuna", "scipy", "pandas", "pytest", *POSTGRES_OR_MIGRATIONS}
    assert not heavy & imported, sorted(heavy & imported)


@pytest.mark.parametrize(
    "command",
    [("predict", f"{MODEL}@1", "-i", "rows.csv", "-o", "out.csv", "-q"), ("gate", f"{MODEL}@1")],
    ids=["predict", "gate"],
)
def test_scoring_the_onnx_variant_imports_no_scikit_learn(
    project: Project, command: tuple[str, ...]
) -> None:
    imported = project.imports(*command)
    assert "onnxruntime" in imported
    # onnx (the Python package, protobuf and all) only to read class labels: in the manifest;
    # pandas: pyarrow imports it to convert to and from numpy, which this path does not ask
    unwanted = {"sklearn", "skops", "scipy", "pytest", "onnx", "pandas", *POSTGRES_OR_MIGRATIONS}
    if command[0] == "predict":
        unwanted.add("yaml")  # no policy, pipeline or manifest to read
    assert not unwanted & imported, sorted(unwanted & imported)


def test_serving_the_onnx_variant_imports_no_scikit_learn_nor_websockets(
    project: Project,
) -> None:
    env = {**project.env, "PYTHONPROFILEIMPORTTIME": "1"}
    server = start_model_server(project.folder, f"{MODEL}@1", "--no-log", "-q", env=env)
    try:
        wait_until_serving(server)
    finally:
        server.stop()
    imported = imported_modules(server.log())
    assert "onnxruntime" in imported
    # websockets: uvicorn's WebSocket protocol, for routes the model server does not have;
    # rich: with -q there is nothing to print; yaml: no policy or manifest is read
    unwanted = {"sklearn", "skops", "scipy", "pytest", "onnx", "pandas", "websockets", "rich"}
    unwanted |= {"yaml", *POSTGRES_OR_MIGRATIONS}
    assert not unwanted & imported, sorted(unwanted & imported)


def test_native_scoring_and_gating_skip_skops_scan_of_every_estimator(project: Project) -> None:
    args = ("predict", f"{MODEL}@1", "-i", "rows.csv", "-o", "out.csv", "-q", "--no-onnx")
    expect(cli(*args, cwd=project.folder, env=project.env, timeout=300))  # the snapshot
    for command in (args, ("gate", f"{MODEL}@1", "--no-onnx")):
        imported = project.imports(*command)
        assert "skops.io._persist" in imported  # it did load the model with skops
        unwanted = {"pytest", "sklearn.utils._testing", "sklearn.frozen", *POSTGRES_OR_MIGRATIONS}
        assert not unwanted & imported, (command, sorted(unwanted & imported))


@pytest.fixture(scope="module")
def listing_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project with one finished run, for the listing commands."""
    folder = tmp_path_factory.mktemp("listing")
    config = init_project(folder)
    with Client(config=config, create=False) as client:
        run = client.create_run("listed")
        client.log_param(run.id, "lr", 0.1)
        client.log_metric(run.id, "auc", 0.9, step=1)
        client.set_terminated(run.id)
    return folder


@pytest.mark.parametrize("group", ["runs", "models", "data", "experiments"])
def test_a_listing_command_imports_only_its_own_command_module(
    listing_project: Path, group: str
) -> None:
    env = {"PYTHONPROFILEIMPORTTIME": "1"}
    done = expect(cli(group, "list", cwd=listing_project, env=env))
    imported = imported_modules(done.stderr)
    own = COMMANDS[group].partition(":")[0]
    assert own in imported
    assert "loopml.stores.metadata.sql.store" in imported  # it did read the store
    others = {target.partition(":")[0] for target in COMMANDS.values()} - {own}
    # system_info: a run's system tags (subprocess, platform, getpass), for writing runs only
    unwanted = {*others, "loopml.tracking.system_info", "numpy", "pandas", "pyarrow"}
    unwanted |= {"fastapi", "uvicorn", "httpx", *POSTGRES_OR_MIGRATIONS}
    assert not unwanted & imported, sorted(unwanted & imported)


def test_help_of_a_listing_command_opens_no_store(listing_project: Path) -> None:
    env = {"PYTHONPROFILEIMPORTTIME": "1"}
    imported = imported_modules(
        expect(cli("runs", "list", "--help", cwd=listing_project, env=env)).stderr
    )
    assert "loopml.cli.runs" in imported
    assert not {"sqlalchemy", "loopml.cli.models", "loopml.cli.data"} & imported
