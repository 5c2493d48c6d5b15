"""Turn rows into entities, loading a page's params, metrics and tags in bulk (one query each)."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from loopml.core.entities import Experiment, Run, RunStatus
from loopml.stores.metadata.sql.schema import experiment_tags, latest_metrics, params, run_tags

# well under SQLite's and PostgreSQL's limits on bound parameters per statement
CHUNK = 500


def chunks(items: Sequence[str], size: int = CHUNK) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def metric_from_db(value: float | None) -> float:
    """Stored NULL is NaN (see :mod:`.schema`)."""
    return math.nan if value is None else float(value)


def metric_to_db(value: float) -> float | None:
    return None if math.isnan(value) else value


def _key_values(
    connection: Connection, table: sa.Table, owner: sa.Column[Any], ids: Sequence[str]
) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = defaultdict(dict)
    for chunk in chunks(ids):
        # one id: a plain equality, whose compiled form SQLAlchemy caches (IN is re-rendered)
        match = owner == chunk[0] if len(chunk) == 1 else owner.in_(chunk)
        query = sa.select(owner, table.c.key, table.c.value).where(match)
        for owner_id, key, value in connection.execute(query).all():
            found[owner_id][key] = value
    return found


def load_runs(connection: Connection, rows: Sequence[Row[Any]]) -> list[Run]:
    """Entities for ``runs`` rows, with their params, latest metrics and tags."""
    ids = [row.id for row in rows]
    run_params = _key_values(connection, params, params.c.run_id, ids)
    run_metrics = _key_values(connection, latest_metrics, latest_metrics.c.run_id, ids)
    tags = _key_values(connection, run_tags, run_tags.c.run_id, ids)
    return [
        Run(
            id=row.id,
            experiment_id=row.experiment_id,
            name=row.name,
            status=RunStatus(row.status),
            start_time=row.start_time,
            end_time=row.end_time,
            parent_run_id=row.parent_run_id,
            params=dict(run_params.get(row.id, {})),
            metrics={k: metric_from_db(v) for k, v in run_metrics.get(row.id, {}).items()},
            tags=dict(tags.get(row.id, {})),
            heartbeat_at=row.heartbeat_at,
        )
        for row in rows
    ]


def load_experiments(connection: Connection, rows: Sequence[Row[Any]]) -> list[Experiment]:
    ids = [row.id for row in rows]
    tags = _key_values(connection, experiment_tags, experiment_tags.c.experiment_id, ids)
    return [
        Experiment(
            id=row.id,
            name=row.name,
            created_at=row.created_at,
            tags=dict(tags.get(row.id, {})),
        )
        for row in rows
    ]
