"""A stored batch marks its run alive only when its last beat is older than the heartbeat
interval, so concurrent batches of one run do not all write the run's row (serialisation
conflicts on PostgreSQL); clients keep their runs alive with explicit beats."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from loopml.core.entities import Metric
from loopml.stores.metadata.base import NewRun
from loopml.stores.metadata.sql.run_store import BATCH_BEAT_MS
from loopml.stores.metadata.sql.schema import runs
from loopml.stores.metadata.sql.store import SqlMetadataStore
from loopml.stores.registry import open_metadata_store


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlMetadataStore]:
    if request.param == "sqlite":
        uri = f"sqlite:///{tmp_path / 'loopml.db'}"
    else:
        uri = request.getfixturevalue("postgres_uri")
    opened = open_metadata_store(uri)
    assert isinstance(opened, SqlMetadataStore)
    try:
        yield opened
    finally:
        opened.close()


def _set_beat(store: SqlMetadataStore, run_id: str, at: int) -> None:
    """Arrange the run's last beat (the store's own table, as a lapse of time would leave it)."""
    with store._engine.begin() as conn:
        conn.execute(sa.update(runs).where(runs.c.id == run_id).values(heartbeat_at=at))


def test_batches_of_a_recently_beaten_run_leave_its_row_alone(store: SqlMetadataStore) -> None:
    experiment = store.create_experiment("beats")
    run = store.create_run(NewRun(experiment.id, "r", 1))
    created = store.get_run(run.id).heartbeat_at
    assert created is not None
    for step in range(5):
        store.log_batch(run.id, metrics=[Metric("m", float(step), step, 0)], batch_id=f"b{step}")
    assert store.get_run(run.id).heartbeat_at == created
    assert len(store.get_metric_history(run.id, "m")) == 5

    stale = created - BATCH_BEAT_MS - 1
    _set_beat(store, run.id, stale)
    store.log_batch(run.id, metrics=[Metric("m", 9.0, 9, 0)], batch_id="late")
    beat = store.get_run(run.id).heartbeat_at
    assert beat is not None and beat > stale + BATCH_BEAT_MS
