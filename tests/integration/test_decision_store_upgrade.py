"""A store at revision 0008 (deployments and leases, no decisions) is upgraded by opening the
loop store: revision 0009 adds ``loop_decisions`` and keeps the deployments and leases."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa

from loopml.core.loop_records import DeploymentState, NewDecision, TriggerKind
from loopml.stores.loop.sql import SqlLoopStore
from loopml.stores.metadata.sql.engine import parse_uri
from loopml.stores.metadata.sql.migrate import HEAD_REVISION, MIGRATIONS_DIR, current_revision
from loopml.stores.metadata.sql.schema import deployments, leases


def _sqlite_uri(folder: Path) -> str:
    return f"sqlite:///{folder / 'old.db'}"


@pytest.mark.parametrize(
    "make_uri",
    [
        pytest.param(_sqlite_uri, id="sqlite"),
        pytest.param(None, id="postgres", marks=pytest.mark.postgres),
    ],
)
def test_a_store_at_revision_0008_gains_decisions_and_keeps_deployments_and_leases(
    make_uri: Callable[[Path], str] | None, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    from alembic import command
    from alembic.config import Config

    uri = make_uri(tmp_path) if make_uri else request.getfixturevalue("postgres_uri")
    engine = sa.create_engine(parse_uri(uri))
    far = 2**50  # a heartbeat and a lease that do not lapse during the test
    try:
        with engine.begin() as conn:
            config = Config()
            config.set_main_option("script_location", str(MIGRATIONS_DIR))
            config.attributes["connection"] = conn
            command.upgrade(config, "0008")
            conn.execute(
                sa.insert(deployments).values(
                    id="d1",
                    model="churn",
                    alias="champion",
                    version=3,
                    address="http://127.0.0.1:8080",
                    heartbeat_ms=30_000,
                    started_at=1,
                    heartbeat_at=1,
                    expires_at=far,
                    state="live",
                )
            )
            conn.execute(
                sa.insert(leases).values(
                    name="agent", holder="agent-a", token=7, acquired_at=1, expires_at=far
                )
            )
        with engine.connect() as conn:
            assert current_revision(conn) == "0008"
            assert not sa.inspect(conn).has_table("loop_decisions")
    finally:
        engine.dispose()

    loop = SqlLoopStore(uri)
    try:
        assert loop.get_deployment("d1").state is DeploymentState.LIVE
        lease = loop.get_lease("agent")
        assert lease is not None and lease.token == 7
        new = NewDecision(
            "retrain:churn@champion:manual:1",
            "churn",
            "champion",
            TriggerKind.MANUAL,
            {"asked_by": "ops"},
            champion_version=3,
        )
        decision = loop.record_decision(new, lease=lease)
        assert decision.lease_token == 7 and loop.find_decision(new.key) == decision
    finally:
        loop.close()
    engine = sa.create_engine(parse_uri(uri))
    try:
        with engine.connect() as conn:
            assert current_revision(conn) == HEAD_REVISION == "0012"  # 0012: audit chain
    finally:
        engine.dispose()
