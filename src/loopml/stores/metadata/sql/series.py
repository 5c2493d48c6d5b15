"""A metric's history thinned in the database, for charts (see
:meth:`~loopml.stores.metadata.run_store.RunStore.get_metric_series`).

The steps are cut into equal buckets; each bucket keeps its lowest and its highest value (a
spike survives, unlike with averaging), and the first and last points are always kept. Two
window functions pick them, so only the chosen rows leave the database however long the
history is. NaN (stored NULL) ranks after every number, so a bucket shows a NaN only when it
holds nothing else.
"""

from __future__ import annotations

import math
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from loopml.core.entities import Metric
from loopml.stores.metadata.sql.reads import metric_from_db
from loopml.stores.metadata.sql.schema import metrics

INT64_MAX = 2**63 - 1
_COLUMNS = (metrics.c.id, metrics.c.key, metrics.c.value, metrics.c.step, metrics.c.timestamp)
_ORDER = (metrics.c.step, metrics.c.timestamp, metrics.c.id)


def history_points(conn: Connection, run_id: str, key: str) -> tuple[Metric, ...]:
    """Every point of the history (the caller knows it is short)."""
    query = sa.select(*_COLUMNS).where(*_of(run_id, key)).order_by(*_ORDER)
    return tuple(_metric(row) for row in conn.execute(query))


def downsampled_points(
    conn: Connection, run_id: str, key: str, max_points: int, *, steps: tuple[int, int]
) -> tuple[Metric, ...]:
    """At most ``max_points`` points of a history whose steps span ``steps`` (lowest,
    highest): the first and the last, and the lowest and highest of each bucket."""
    of_key = _of(run_id, key)
    first = sa.select(*_COLUMNS).where(*of_key).order_by(*_ORDER).limit(1)
    last = sa.select(*_COLUMNS).where(*of_key).order_by(*(c.desc() for c in _ORDER)).limit(1)
    rows: dict[int, Any] = {}  # id -> row
    for query in (first, last):
        for row in conn.execute(query):
            rows[row.id] = row
    buckets = (max_points - 2) // 2
    if buckets:
        for row in conn.execute(_extremes(of_key, buckets, steps)):
            rows[row.id] = row
    chosen = sorted(rows.values(), key=lambda row: (row.step, row.timestamp, row.id))
    if len(chosen) > max_points:  # only for steps spanning most of the 64-bit range
        keep = {0, len(chosen) - 1}
        keep.update(round(i * (len(chosen) - 1) / (max_points - 1)) for i in range(max_points))
        chosen = [row for i, row in enumerate(chosen) if i in keep][:max_points]
    return tuple(_metric(row) for row in chosen)


def _extremes(of_key: tuple[Any, ...], buckets: int, steps: tuple[int, int]) -> sa.Select[Any]:
    """The lowest and highest value of each of (at most) ``buckets`` equal step ranges.

    A bucket is ``step / width`` in integer arithmetic (no subtraction that could overflow;
    truncated toward zero on both backends, so steps either side of 0 share a bucket, which
    only makes fewer). Unaligned to the lowest step, the span meets one bucket more than
    ``span / width``: hence ``buckets - 1`` widths."""
    lowest, highest = steps
    span = highest - lowest + 1
    width = min(max(math.ceil(span / max(buckets - 1, 1)), 1), INT64_MAX)
    bucket = sa.cast(metrics.c.step, sa.BigInteger) // sa.literal(width, sa.BigInteger)
    nan_last = sa.case((metrics.c.value.is_(None), 1), else_=0)
    low = sa.func.row_number().over(
        partition_by=bucket, order_by=(nan_last, metrics.c.value.asc(), *_ORDER)
    )
    high = sa.func.row_number().over(
        partition_by=bucket, order_by=(nan_last, metrics.c.value.desc(), *_ORDER)
    )
    ranked = sa.select(*_COLUMNS, low.label("low"), high.label("high")).where(*of_key).subquery()
    return sa.select(
        ranked.c.id, ranked.c.key, ranked.c.value, ranked.c.step, ranked.c.timestamp
    ).where(sa.or_(ranked.c.low == 1, ranked.c.high == 1))


def _of(run_id: str, key: str) -> tuple[Any, ...]:
    return (metrics.c.run_id == run_id, metrics.c.key == key)


def _metric(row: Any) -> Metric:  # a row of _COLUMNS
    return Metric(row.key, metric_from_db(row.value), row.step, row.timestamp)
