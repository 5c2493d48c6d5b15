"""Many processes open a fresh store at the same instant, migrate it and log into it at once.

MLflow crashed in this situation ("duplicate column", "alembic_version 0 found"); here every
process must succeed and every metric must be stored. Also checks that the Alembic revisions
build exactly the schema that ``schema.py`` describes, and that a database left at an older
revision is upgraded with its data kept.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa

import loopml
from loopml.core.entities import (
    AliasChange,
    ArtifactEdge,
    DatasetInput,
    GateResult,
    Metric,
    ModelVersion,
    RunStatus,
)
from loopml.stores.metadata.base import RunQuery
from loopml.stores.metadata.sql import SqlMetadataStore
from loopml.stores.metadata.sql.engine import parse_uri
from loopml.stores.metadata.sql.migrate import (
    HEAD_REVISION,
    MIGRATIONS_DIR,
    VERSION_TABLE,
    current_revision,
)
from loopml.stores.metadata.sql.schema import (
    artifact_edges,
    dataset_inputs,
    dataset_versions,
    datasets,
    experiments,
    metadata,
    model_alias_history,
    model_aliases,
    model_versions,
    registered_models,
    runs,
)

PROCESSES = 8
KEYS_PER_BATCH = 20

# A worker imports what it needs, says "ready", waits for "go" on stdin (sent to every worker
# at once), then opens the fresh store and logs ``steps`` batches of KEYS_PER_BATCH metrics.
WORKER = """
import sys
from loopml.core.entities import Metric, RunStatus
from loopml.stores.metadata.base import NewRun
from loopml.stores.metadata.sql import SqlMetadataStore

uri, worker, steps, keys = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
if uri.startswith("postgresql"):
    import psycopg  # the race under test is opening the store, not importing its driver
print("ready", flush=True)
sys.stdin.readline()
with SqlMetadataStore(uri) as store:
    experiment = store.create_experiment(f"worker-{worker}")
    run = store.create_run(NewRun(experiment.id, f"run-{worker}", start_time=worker))
    for step in range(steps):
        batch = [Metric(f"m{k}", step + k / 100, step, step) for k in range(keys)]
        store.log_batch(run.id, metrics=batch)
    store.set_run_status(run.id, RunStatus.FINISHED, None)
"""


def _run_workers(uri: str, steps: int) -> None:
    src = str(Path(loopml.__file__).parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, uri, str(i), str(steps), str(KEYS_PER_BATCH)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for i in range(PROCESSES)
    ]
    try:
        for worker in workers:
            assert worker.stdout is not None
            assert worker.stdout.readline().strip() == "ready", worker.communicate()[1]
        for worker in workers:  # release them together
            assert worker.stdin is not None
            worker.stdin.write("go\n")
            worker.stdin.flush()
        results = [worker.communicate(timeout=120) for worker in workers]
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
    failures = [
        f"worker {i} exited with {w.returncode}:\n{err}"
        for i, (w, (_, err)) in enumerate(zip(workers, results, strict=True))
        if w.returncode != 0
    ]
    assert not failures, "\n".join(failures)


def _check_everything_stored(uri: str, steps: int) -> None:
    with SqlMetadataStore(uri) as store:
        runs = store.search_runs(RunQuery(max_results=100)).items
        assert len(runs) == PROCESSES
        stored = 0
        for run in runs:
            assert run.status is RunStatus.FINISHED
            assert run.metrics == {f"m{k}": steps - 1 + k / 100 for k in range(KEYS_PER_BATCH)}
            for k in range(KEYS_PER_BATCH):
                history = store.get_metric_history(run.id, f"m{k}")
                assert [m.step for m in history] == list(range(steps))
                stored += len(history)
        assert stored == PROCESSES * steps * KEYS_PER_BATCH
    engine = sa.create_engine(parse_uri(uri))
    try:
        with engine.connect() as conn:
            versions = conn.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).all()
    finally:
        engine.dispose()
    assert [row[0] for row in versions] == [HEAD_REVISION]


def test_processes_opening_a_fresh_sqlite_store_at_once_lose_nothing(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'fresh' / 'loopml.db'}"  # the folder does not exist yet
    steps = 2_000 // KEYS_PER_BATCH
    _run_workers(uri, steps)
    _check_everything_stored(uri, steps)


@pytest.mark.postgres
def test_processes_opening_a_fresh_postgres_store_at_once_lose_nothing(postgres_uri: str) -> None:
    steps = 500 // KEYS_PER_BATCH
    _run_workers(postgres_uri, steps)
    _check_everything_stored(postgres_uri, steps)


def test_head_revision_constant_matches_the_migration_scripts() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    assert ScriptDirectory.from_config(config).get_heads() == [HEAD_REVISION]


def _sqlite_uri(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'schema.db'}"


@pytest.mark.parametrize(
    "make_uri",
    [
        pytest.param(_sqlite_uri, id="sqlite"),
        pytest.param(None, id="postgres", marks=pytest.mark.postgres),
    ],
)
def test_migrations_build_the_schema_that_schema_py_describes(
    make_uri: Callable[[Path], str] | None, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    uri = make_uri(tmp_path) if make_uri else request.getfixturevalue("postgres_uri")
    SqlMetadataStore(uri).close()
    engine = sa.create_engine(parse_uri(uri))
    try:
        inspector = sa.inspect(engine)
        assert set(inspector.get_table_names()) == {*metadata.tables, VERSION_TABLE}
        for table in metadata.sorted_tables:
            columns = {c["name"]: c["nullable"] for c in inspector.get_columns(table.name)}
            assert columns == {c.name: c.nullable for c in table.c}, table.name
            indexes = inspector.get_indexes(table.name)
            # PostgreSQL also reports the index behind a unique constraint
            built = {i["name"] for i in indexes if "duplicates_constraint" not in i}
            assert built == {index.name for index in table.indexes}, table.name
            uniques = {u["name"] for u in inspector.get_unique_constraints(table.name)}
            assert uniques == {
                c.name for c in table.constraints if isinstance(c, sa.UniqueConstraint)
            }
            foreign_keys = {
                (
                    tuple(fk["constrained_columns"]),
                    fk["referred_table"],
                    tuple(fk["referred_columns"]),
                    fk["options"].get("ondelete"),
                )
                for fk in inspector.get_foreign_keys(table.name)
            }
            assert foreign_keys == {
                (
                    tuple(fk.column_keys),
                    fk.referred_table.name,
                    tuple(element.column.name for element in fk.elements),
                    fk.ondelete,
                )
                for fk in table.foreign_key_constraints
            }, table.name
            primary_key = inspector.get_pk_constraint(table.name)["constrained_columns"]
            assert primary_key == [c.name for c in table.primary_key], table.name
    finally:
        engine.dispose()


def test_opening_a_migrated_store_does_not_import_alembic(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'loopml.db'}"
    SqlMetadataStore(uri).close()
    code = (
        "import sys\n"
        "from loopml.stores.metadata.sql import SqlMetadataStore\n"
        f"SqlMetadataStore({uri!r}).close()\n"
        "print('alembic' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "False"


def _migrate_to(connection: sa.Connection, revision: str) -> None:
    """Build the schema of an older loopml: the revisions up to ``revision`` only."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


@pytest.mark.parametrize(
    "make_uri",
    [
        pytest.param(_sqlite_uri, id="sqlite"),
        pytest.param(None, id="postgres", marks=pytest.mark.postgres),
    ],
)
def test_a_store_at_revision_0003_is_upgraded_and_keeps_its_data(
    make_uri: Callable[[Path], str] | None, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    uri = make_uri(tmp_path) if make_uri else request.getfixturevalue("postgres_uri")
    tree = "blake3:" + "ab" * 32
    engine = sa.create_engine(parse_uri(uri))
    try:
        with engine.begin() as conn:
            _migrate_to(conn, "0003")
            # tables 0004 does not touch, so the newest schema.py describes them
            conn.execute(sa.insert(experiments).values(id="e1", name="old", created_at=1))
            conn.execute(
                sa.insert(runs).values(
                    id="r1", experiment_id="e1", name="old run", status="FINISHED", start_time=1
                )
            )
            conn.execute(
                sa.insert(datasets).values(id="d1", name="iris", created_at=1, next_version=2)
            )
            conn.execute(
                sa.insert(dataset_versions).values(
                    dataset_id="d1",
                    version=1,
                    tree_digest=tree,
                    message="",
                    size=1,
                    file_count=1,
                    created_at=1,
                    source="data/iris",
                )
            )
            conn.execute(sa.insert(dataset_inputs).values(run_id="r1", dataset_id="d1", version=1))
        with engine.connect() as conn:
            assert current_revision(conn) == "0003"
            assert not sa.inspect(conn).has_table("artifact_edges")
    finally:
        engine.dispose()

    with SqlMetadataStore(uri) as store:
        assert store.get_run("r1").name == "old run"
        assert store.get_dataset_version("iris", 1).source == "data/iris"
        assert store.list_dataset_inputs(run_id="r1") == [DatasetInput("r1", "iris", 1)]
        store.add_artifact_edges("r1", [("input", tree, "data")])
        assert store.list_artifact_edges(digest=tree) == [ArtifactEdge("r1", "input", tree, "data")]
        store.delete_run("r1")
        assert store.list_artifact_edges(digest=tree) == []
    engine = sa.create_engine(parse_uri(uri))
    try:
        with engine.connect() as conn:
            assert current_revision(conn) == HEAD_REVISION
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    "make_uri",
    [
        pytest.param(_sqlite_uri, id="sqlite"),
        pytest.param(None, id="postgres", marks=pytest.mark.postgres),
    ],
)
def test_a_store_at_revision_0004_is_upgraded_and_keeps_its_data(
    make_uri: Callable[[Path], str] | None, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    uri = make_uri(tmp_path) if make_uri else request.getfixturevalue("postgres_uri")
    tree = "blake3:" + "ab" * 32
    engine = sa.create_engine(parse_uri(uri))
    try:
        with engine.begin() as conn:
            _migrate_to(conn, "0004")
            # tables 0005 does not touch, so the newest schema.py describes them
            conn.execute(sa.insert(experiments).values(id="e1", name="old", created_at=1))
            conn.execute(
                sa.insert(runs).values(
                    id="r1", experiment_id="e1", name="old run", status="FINISHED", start_time=1
                )
            )
            conn.execute(
                sa.insert(datasets).values(id="d1", name="iris", created_at=1, next_version=2)
            )
            conn.execute(
                sa.insert(dataset_versions).values(
                    dataset_id="d1",
                    version=1,
                    tree_digest=tree,
                    message="",
                    size=1,
                    file_count=1,
                    created_at=1,
                )
            )
            conn.execute(
                sa.insert(artifact_edges).values(
                    run_id="r1", direction="output", digest=tree, name="output"
                )
            )
        with engine.connect() as conn:
            assert current_revision(conn) == "0004"
            assert not sa.inspect(conn).has_table("registered_models")
    finally:
        engine.dispose()

    with SqlMetadataStore(uri) as store:
        assert store.get_run("r1").name == "old run"
        assert store.get_dataset_version("iris", 1).tree_digest == tree
        assert store.list_artifact_edges(run_id="r1") == [
            ArtifactEdge("r1", "output", tree, "output")
        ]
        assert store.list_registered_models() == []
        new = ModelVersion(
            "churn", 0, "sklearn", tree, 1, run_id="r1", metrics={"auc": 0.9}, datasets=("iris@1",)
        )
        added = store.add_model_version(new)
        assert added.version == 1 and store.get_model_version("churn") == added
        store.set_model_alias("churn", "champion", 1, actor="ops", reason="first")
        assert store.get_registered_model("churn").aliases == {"champion": 1}
        store.delete_run("r1")
        assert store.get_model_version("churn", 1).run_id is None
    engine = sa.create_engine(parse_uri(uri))
    try:
        with engine.connect() as conn:
            assert current_revision(conn) == HEAD_REVISION
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    "make_uri",
    [
        pytest.param(_sqlite_uri, id="sqlite"),
        pytest.param(None, id="postgres", marks=pytest.mark.postgres),
    ],
)
def test_a_store_at_revision_0005_is_upgraded_and_keeps_its_data(
    make_uri: Callable[[Path], str] | None, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    uri = make_uri(tmp_path) if make_uri else request.getfixturevalue("postgres_uri")
    tree = "blake3:" + "ab" * 32
    engine = sa.create_engine(parse_uri(uri))
    try:
        with engine.begin() as conn:
            _migrate_to(conn, "0005")
            # tables 0006 does not touch, so the newest schema.py describes them
            conn.execute(
                sa.insert(registered_models).values(
                    id="m1",
                    name="churn",
                    description="",
                    created_at=1,
                    updated_at=2,
                    next_version=3,
                )
            )
            for version in (1, 2):
                conn.execute(
                    sa.insert(model_versions).values(
                        model_id="m1",
                        version=version,
                        flavor="sklearn",
                        tree_digest=tree,
                        created_at=version,
                        signature={"inputs": [{"name": "age", "type": "double"}]},
                        metrics={"auc": 0.9},
                        datasets=["iris@1"],
                        requirements=[],
                        description="",
                        tags={},
                    )
                )
            conn.execute(
                sa.insert(model_aliases).values(model_id="m1", alias="champion", version=2)
            )
            conn.execute(
                sa.insert(model_alias_history).values(
                    model_id="m1", alias="champion", to_version=2, at=2, actor="ops", reason="first"
                )
            )
        with engine.connect() as conn:
            assert current_revision(conn) == "0005"
            assert not sa.inspect(conn).has_table("model_gate_results")
    finally:
        engine.dispose()

    with SqlMetadataStore(uri) as store:
        assert store.get_model_version("churn", 1).signature == {
            "inputs": [{"name": "age", "type": "double"}]
        }
        assert [v.version for v in store.list_model_versions("churn")] == [1, 2]
        assert store.get_registered_model("churn").aliases == {"champion": 2}
        assert store.list_alias_history("churn") == [
            AliasChange("churn", "champion", None, 2, 2, "ops", "first")
        ]
        assert store.list_gate_results("churn") == []
        assert store.list_model_approvals("churn") == []
        checks = ({"check": "metric", "name": "auc", "passed": True, "observed": 0.9},)
        for version in (1, 2):
            result = GateResult(
                id="0" * 31 + str(version),
                model="churn",
                version=version,
                passed=True,
                checks=checks,
                policy={"metrics": {"auc": {"min": 0.8}}},
                policy_digest="sha256:" + "cd" * 32,
                evaluated_at=5,
            )
            assert store.add_gate_result(result) == result
            store.add_model_approval("churn", version, actor="ops", comment=f"v{version}")
        store.delete_model_version("churn", 1)
        assert [r.id for r in store.list_gate_results("churn")] == ["0" * 31 + "2"]
        approvals = store.list_model_approvals("churn")
        assert [(a.version, a.actor, a.comment) for a in approvals] == [(2, "ops", "v2")]
    engine = sa.create_engine(parse_uri(uri))
    try:
        with engine.connect() as conn:
            assert current_revision(conn) == HEAD_REVISION
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    "make_uri",
    [
        pytest.param(_sqlite_uri, id="sqlite"),
        pytest.param(None, id="postgres", marks=pytest.mark.postgres),
    ],
)
def test_a_store_at_revision_0006_is_upgraded_and_keeps_its_data(
    make_uri: Callable[[Path], str] | None, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    uri = make_uri(tmp_path) if make_uri else request.getfixturevalue("postgres_uri")
    engine = sa.create_engine(parse_uri(uri))
    try:
        with engine.begin() as conn:
            _migrate_to(conn, "0006")
            conn.execute(sa.insert(experiments).values(id="e1", name="old", created_at=1))
            for run_id, status in (("r1", "RUNNING"), ("r2", "FINISHED")):
                conn.execute(
                    sa.text(
                        "INSERT INTO runs (id, experiment_id, name, status, start_time) "
                        "VALUES (:id, 'e1', :id, :status, 1)"
                    ),
                    {"id": run_id, "status": status},
                )
        with engine.connect() as conn:
            assert current_revision(conn) == "0006"
            assert not sa.inspect(conn).has_table("run_batches")
    finally:
        engine.dispose()

    with SqlMetadataStore(uri) as store:
        old = store.get_run("r1")
        assert (old.status, old.heartbeat_at) == (RunStatus.RUNNING, None)
        assert store.get_run("r2").status is RunStatus.FINISHED
        # a run from before heartbeats is never taken for a lost one
        assert "r1" not in {run.id for run in store.close_lapsed_runs(0)}
        for _ in range(2):
            store.log_batch("r1", metrics=[Metric("m", 1.0, 0, 1)], batch_id="b1")
        assert len(store.get_metric_history("r1", "m")) == 1
        assert store.get_run("r1").heartbeat_at is not None  # the batch was a heartbeat
        store.delete_run("r1")  # its batch ids go with it
        store.log_batch("r2", metrics=[Metric("m", 1.0, 0, 1)], batch_id="b1")
        assert len(store.get_metric_history("r2", "m")) == 1
    engine = sa.create_engine(parse_uri(uri))
    try:
        with engine.connect() as conn:
            assert current_revision(conn) == HEAD_REVISION
    finally:
        engine.dispose()
