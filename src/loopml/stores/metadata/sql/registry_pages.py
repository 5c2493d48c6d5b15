"""Keyset pages of the model registry and of datasets, inside the caller's transaction.

Each listing seeks past the sort key of the last item of the previous page (carried in the
page token, see :mod:`.paging`) along an index: models and datasets by name (code point
order on every backend), versions by number, alias moves by their position in the history,
gate results by (time, id). A page reads ``limit + 1`` rows at most.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from loopml.core.entities import (
    AliasChange,
    DatasetVersion,
    GateResult,
    ModelVersion,
    Page,
    RegisteredModel,
)
from loopml.stores.metadata.sql import datasets as dataset_rows
from loopml.stores.metadata.sql import models as model_rows
from loopml.stores.metadata.sql import paging
from loopml.stores.metadata.sql.schema import (
    dataset_versions,
    datasets,
    model_alias_history,
    model_gate_results,
    model_versions,
    registered_models,
)


def models_page(conn: Connection, limit: int, token: str | None) -> Page[RegisteredModel]:
    after = paging.decode_key(token, "models", (str,))
    name = paging.code_point_order(registered_models.c.name, conn)
    query = sa.select(registered_models).order_by(name).limit(limit + 1)
    if after is not None:
        query = query.where(name > after[0])
    rows = list(conn.execute(query).all())
    more = len(rows) > limit
    items = model_rows.models_of(conn, rows[:limit])
    next_token = paging.encode_key("models", [items[-1].name]) if more else None
    return Page(items, next_token)


def versions_page(
    conn: Connection, name: str, limit: int, token: str | None, newest_first: bool
) -> Page[ModelVersion]:
    query_id = paging.fingerprint(name, newest_first)
    after = paging.decode_key(token, "model_versions", (int,), query_id)
    model = model_rows.find_model(conn, name)
    number = model_versions.c.version
    query = sa.select(model_versions).where(model_versions.c.model_id == model.id)
    if after is not None:
        query = query.where(number < after[0] if newest_first else number > after[0])
    query = query.order_by(number.desc() if newest_first else number).limit(limit + 1)
    rows = list(conn.execute(query).all())
    items = [model_rows.version_of(name, row) for row in rows[:limit]]
    more = len(rows) > limit
    next_token = (
        paging.encode_key("model_versions", [items[-1].version], query_id) if more else None
    )
    return Page(items, next_token)


def alias_history_page(
    conn: Connection,
    name: str,
    alias: str | None,
    limit: int,
    token: str | None,
    newest_first: bool,
) -> Page[AliasChange]:
    query_id = paging.fingerprint(name, alias, newest_first)
    after = paging.decode_key(token, "alias_history", (int,), query_id)
    model = model_rows.find_model(conn, name)
    table = model_alias_history
    query = sa.select(table).where(table.c.model_id == model.id)
    if alias is not None:
        query = query.where(table.c.alias == alias)
    if after is not None:
        query = query.where(table.c.id < after[0] if newest_first else table.c.id > after[0])
    query = query.order_by(table.c.id.desc() if newest_first else table.c.id).limit(limit + 1)
    rows = list(conn.execute(query).all())
    items = [model_rows.alias_change_of(name, row) for row in rows[:limit]]
    more = len(rows) > limit
    next_token = (
        paging.encode_key("alias_history", [rows[limit - 1].id], query_id) if more else None
    )
    return Page(items, next_token)


def gate_results_page(
    conn: Connection,
    name: str,
    version: int | None,
    limit: int,
    token: str | None,
    newest_first: bool,
) -> Page[GateResult]:
    query_id = paging.fingerprint(name, version, newest_first)
    after = paging.decode_key(token, "gate_results", (int, str), query_id)
    table = model_gate_results
    model = model_rows.find_model(conn, name)
    query = sa.select(table).where(table.c.model_id == model.id)
    if version is not None:
        model_rows.require_version(conn, model, version)
        query = query.where(table.c.version == version)
    at, ident = table.c.evaluated_at, table.c.id
    if after is not None:
        when, last = after[0], after[1]
        if newest_first:
            query = query.where(sa.or_(at < when, sa.and_(at == when, ident < last)))
        else:
            query = query.where(sa.or_(at > when, sa.and_(at == when, ident > last)))
    order = (at.desc(), ident.desc()) if newest_first else (at, ident)
    rows = list(conn.execute(query.order_by(*order).limit(limit + 1)).all())
    items = [model_rows.gate_result_of(name, row) for row in rows[:limit]]
    more = len(rows) > limit
    next_token = (
        paging.encode_key("gate_results", [items[-1].evaluated_at, items[-1].id], query_id)
        if more
        else None
    )
    return Page(items, next_token)


def dataset_versions_page(
    conn: Connection, name: str | None, limit: int, token: str | None, newest_first: bool
) -> Page[DatasetVersion]:
    if name is None:
        return _newest_versions_page(conn, limit, token)
    query_id = paging.fingerprint(name, newest_first)
    after = paging.decode_key(token, "dataset_versions", (int,), query_id)
    dataset = dataset_rows.find_dataset(conn, name)
    number = dataset_versions.c.version
    query = sa.select(dataset_versions).where(dataset_versions.c.dataset_id == dataset.id)
    if after is not None:
        query = query.where(number < after[0] if newest_first else number > after[0])
    query = query.order_by(number.desc() if newest_first else number).limit(limit + 1)
    rows = list(conn.execute(query).all())
    items = [dataset_rows.entity_of(name, row) for row in rows[:limit]]
    more = len(rows) > limit
    next_token = (
        paging.encode_key("dataset_versions", [items[-1].version], query_id) if more else None
    )
    return Page(items, next_token)


def _newest_versions_page(conn: Connection, limit: int, token: str | None) -> Page[DatasetVersion]:
    """The newest version of each dataset, by name; datasets without versions left out."""
    after = paging.decode_key(token, "datasets", (str,))
    name = paging.code_point_order(datasets.c.name, conn)
    inner = dataset_versions.alias("newer")
    newest = (
        sa.select(sa.func.max(inner.c.version))
        .where(inner.c.dataset_id == datasets.c.id)
        .scalar_subquery()
    )
    query = (
        sa.select(datasets.c.name, dataset_versions)
        .join(dataset_versions, dataset_versions.c.dataset_id == datasets.c.id)
        .where(dataset_versions.c.version == newest)
        .order_by(name)
        .limit(limit + 1)
    )
    if after is not None:
        query = query.where(name > after[0])
    rows: list[Row[Any]] = list(conn.execute(query).all())
    items = [dataset_rows.entity_of(row.name, row) for row in rows[:limit]]
    more = len(rows) > limit
    next_token = paging.encode_key("datasets", [items[-1].dataset]) if more else None
    return Page(items, next_token)
