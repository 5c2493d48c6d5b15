"""A store made by the loopml before deployments (revision 0007) is upgraded by opening the
loop store: revision 0008 adds ``deployments`` and ``leases`` and keeps the runs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa

from loopml.core.ids import new_id
from loopml.core.loop_records import NewDeployment
from loopml.stores.loop.sql import SqlLoopStore
from loopml.stores.metadata.sql import SqlMetadataStore
from loopml.stores.metadata.sql.engine import parse_uri
from loopml.stores.metadata.sql.migrate import HEAD_REVISION, MIGRATIONS_DIR, current_revision
from loopml.stores.metadata.sql.schema import experiments, runs


def _sqlite_uri(folder: Path) -> str:
    return f"sqlite:///{folder / 'old.db'}"


@pytest.mark.parametrize(
    "make_uri",
    [
        pytest.param(_sqlite_uri, id="sqlite"),
        pytest.param(None, id="postgres", marks=pytest.mark.postgres),
    ],
)
def test_a_store_at_revision_0007_is_upgraded_by_the_loop_store_and_keeps_its_runs(
    make_uri: Callable[[Path], str] | None, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    from alembic import command
    from alembic.config import Config

    uri = make_uri(tmp_path) if make_uri else request.getfixturevalue("postgres_uri")
    engine = sa.create_engine(parse_uri(uri))
    try:
        with engine.begin() as conn:
            config = Config()
            config.set_main_option("script_location", str(MIGRATIONS_DIR))
            config.attributes["connection"] = conn
            command.upgrade(config, "0007")
            conn.execute(sa.insert(experiments).values(id="e1", name="old", created_at=1))
            conn.execute(
                sa.insert(runs).values(
                    id="r1", experiment_id="e1", name="old run", status="RUNNING", start_time=1
                )
            )
        with engine.connect() as conn:
            assert current_revision(conn) == "0007"
            assert not sa.inspect(conn).has_table("deployments")
    finally:
        engine.dispose()

    loop = SqlLoopStore(uri)
    try:
        new = NewDeployment(new_id(), "churn", "http://127.0.0.1:8080", 30_000, run_id="r1")
        assert loop.register_deployment(new).run_id == "r1"
        assert loop.acquire_lease("retrain:churn", "agent", 60_000) is not None
    finally:
        loop.close()
    with SqlMetadataStore(uri) as store:
        assert store.get_run("r1").name == "old run"
    engine = sa.create_engine(parse_uri(uri))
    try:
        with engine.connect() as conn:
            assert current_revision(conn) == HEAD_REVISION
    finally:
        engine.dispose()
