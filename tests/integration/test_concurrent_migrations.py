"""Many processes open a fresh store at the same instant, migrate it and log into it at once.

MLflow crashed in this situation ("duplicate column", "alembic_version 0 found"); here every
process must succeed and every metric must be stored. Also checks that the Alembic revisions
build exactly the schema that ``schema.py`` describes.
"""

from __future__ import annotations

import multiprocessing
import traceback
from collections.abc import Callable
from multiprocessing.synchronize import Barrier
from pathlib import Path

import pytest
import sqlalchemy as sa

from loopml.core.entities import Metric, RunStatus
from loopml.stores.metadata.base import NewRun, RunQuery
from loopml.stores.metadata.sql import SqlMetadataStore
from loopml.stores.metadata.sql.engine import parse_uri
from loopml.stores.metadata.sql.migrate import HEAD_REVISION, MIGRATIONS_DIR, VERSION_TABLE
from loopml.stores.metadata.sql.schema import metadata

PROCESSES = 8
KEYS_PER_BATCH = 20


def _log_from_fresh_process(
    uri: str, worker: int, steps: int, barrier: Barrier, errors: multiprocessing.Queue[str]
) -> None:
    """Open the store right when every worker is ready, then log ``steps`` batches."""
    try:
        barrier.wait(timeout=60)
        store = SqlMetadataStore(uri)
        try:
            experiment = store.create_experiment(f"worker-{worker}")
            run = store.create_run(NewRun(experiment.id, f"run-{worker}", start_time=worker))
            for step in range(steps):
                batch = [Metric(f"m{k}", step + k / 100, step, step) for k in range(KEYS_PER_BATCH)]
                store.log_batch(run.id, metrics=batch)
            store.set_run_status(run.id, RunStatus.FINISHED, None)
        finally:
            store.close()
    except BaseException:
        errors.put(f"worker {worker}:\n{traceback.format_exc()}")
        raise


def _run_workers(uri: str, steps: int) -> None:
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(PROCESSES)
    errors: multiprocessing.Queue[str] = context.Queue()
    workers = [
        context.Process(target=_log_from_fresh_process, args=(uri, i, steps, barrier, errors))
        for i in range(PROCESSES)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    failures = []
    while not errors.empty():
        failures.append(errors.get())
    exit_codes = [worker.exitcode for worker in workers]
    assert not failures, "\n".join(failures)
    assert exit_codes == [0] * PROCESSES


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
            described = {index.name for index in table.indexes}
            assert {i["name"] for i in inspector.get_indexes(table.name)} == described
            keys = {tuple(fk["constrained_columns"]) for fk in inspector.get_foreign_keys(table.name)}
            assert keys == {tuple(fk.parent.name for fk in [fk]) for fk in table.foreign_keys}
            assert inspector.get_pk_constraint(table.name)["constrained_columns"] == [
                c.name for c in table.primary_key
            ]
    finally:
        engine.dispose()
