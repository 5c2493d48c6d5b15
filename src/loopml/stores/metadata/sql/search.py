"""Compile a run search (:mod:`loopml.core.filters` ASTs) into one SQL query.

A metric, param or tag clause matches runs having a row in ``latest_metrics``, ``params`` or
``run_tags`` with that key and a matching value; attribute clauses compare ``runs`` columns.
How a value clause is written decides SQLite's plan, and SQLite has no statistics to choose
well by itself, so the store first counts (up to a cap) the rows a clause matches:

* few matches: ``runs.id IN (SELECT run_id … WHERE key = ? AND value > ?)`` — the
  ``(key, value)`` index yields the few candidates, which are then sorted;
* many matches: ``EXISTS (SELECT … WHERE run_id = runs.id AND key = ? …)`` — runs are walked
  in the requested order (by index) and the walk stops as soon as the page is full.

PostgreSQL plans both forms as the same semi-join from its statistics, so it skips the count.

Ordering by a metric, param or tag outer-joins its table, and runs lacking the value (or
whose metric is NaN) sort last in both directions. Every order ends with ``start_time DESC,
id`` so pages are stable.

``status = 'finished'`` matches FINISHED runs (status values are compared upper-cased).
``like`` is case-sensitive and ``ilike`` is not, on both backends; ``%`` and ``_`` are
wildcards and a backslash escapes them. SQLite's LIKE ignores case, so there ``like`` runs as
GLOB with the pattern translated.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from loopml.core.errors import InvalidInputError
from loopml.core.filters import Comparison, OrderBy
from loopml.stores.metadata.sql.schema import (
    INDEXED_PREFIX,
    latest_metrics,
    params,
    run_tags,
    runs,
)

# a search over more experiments than this is one query with IN (see compile_search)
MAX_MERGED = 100
_VALUE_TABLES = {"metric": latest_metrics, "param": params, "tag": run_tags}
_ATTRIBUTE_COLUMNS: dict[str, ColumnElement[Any]] = {
    "status": runs.c.status,
    "name": runs.c.name,
    "start_time": runs.c.start_time,
    "end_time": runs.c.end_time,
    "duration": runs.c.end_time - runs.c.start_time,  # NULL while running
    "run_id": runs.c.id,
    "parent_run_id": runs.c.parent_run_id,
}


def compile_search(
    *,
    experiment_ids: list[str],
    parent_run_id: str | None,
    comparisons: list[Comparison],
    orders: list[OrderBy],
    dialect: str,
    selective: Collection[int] = (),
    top: int | None = None,
) -> sa.Select[Any]:
    """A SELECT of ``runs`` rows matching the search, in the requested order (no paging).

    ``selective`` holds the positions of value clauses known to match few rows (see
    :func:`count_matches`); they drive the query. ``top`` is how many rows the caller reads
    from the top (offset + limit + 1): on SQLite, a search over several experiments then
    takes each experiment's first ``top`` rows (walking its ``(experiment_id, start_time)``
    index) and merges them, since SQLite sorts every matching run of an ``IN`` list instead
    (100,000 runs in two experiments: ~300 ms for the first page, against a few ms).
    """
    conditions: list[ColumnElement[bool]] = []
    if parent_run_id is not None:
        conditions.append(runs.c.parent_run_id == parent_run_id)
    for position, comparison in enumerate(comparisons):
        conditions.append(_condition(comparison, dialect, drive=position in selective))

    keys: list[tuple[ColumnElement[Any], bool]] = []  # (expression, ascending)
    source: sa.FromClause = runs
    for position, order in enumerate(orders):
        if order.kind == "attribute":
            column: ColumnElement[Any] = _ATTRIBUTE_COLUMNS[order.key]
        else:
            joined = _VALUE_TABLES[order.kind].alias(f"order_{position}")
            source = source.outerjoin(
                joined, sa.and_(joined.c.run_id == runs.c.id, joined.c.key == order.key)
            )
            column = joined.c.value
        if _may_be_null(column):
            # missing values last whatever the direction (NULLS LAST is not in older SQLite)
            keys.append((sa.case((column.is_(None), 1), else_=0), True))
        keys.append((column, order.ascending))
    keys += [(runs.c.start_time, False), (runs.c.id, True)]

    experiments = list(dict.fromkeys(experiment_ids))
    if top is None or dialect != "sqlite" or not 1 < len(experiments) <= MAX_MERGED:
        stmt = sa.select(*runs.c).select_from(source).where(*conditions)
        if experiments:
            stmt = stmt.where(runs.c.experiment_id.in_(experiments))
        return stmt.order_by(*_ordered(keys))
    labels = [expression.label(f"sort_{i}") for i, (expression, _) in enumerate(keys)]
    members = [
        sa.select(
            sa.select(*runs.c, *labels)
            .select_from(source)
            .where(*conditions, runs.c.experiment_id == experiment)
            .order_by(*_ordered(keys))
            .limit(top)
            .subquery()
        )
        for experiment in experiments
    ]
    merged = sa.union_all(*members).subquery("merged")
    outer_keys = [(merged.c[f"sort_{i}"], ascending) for i, (_, ascending) in enumerate(keys)]
    return sa.select(*(merged.c[column.name] for column in runs.c)).order_by(*_ordered(outer_keys))


def _ordered(keys: Sequence[tuple[ColumnElement[Any], bool]]) -> list[ColumnElement[Any]]:
    return [key.asc() if ascending else key.desc() for key, ascending in keys]


def _may_be_null(column: ColumnElement[Any]) -> bool:
    """Whether ordering by ``column`` needs a "missing values last" term. Not for a NOT NULL
    column of ``runs``, where the term would keep the database from walking the column's
    index in order (SQLite, 100,000 runs by start_time: every run sorted, ~230 ms, instead of
    the first page's rows read, < 1 ms). A value outer-joined from another table is missing
    for the runs without one, whatever its column says."""
    if isinstance(column, sa.Column) and column.table is runs:
        return bool(column.nullable)
    return True  # an expression, or a value outer-joined (missing for some runs)


def count_matches(comparison: Comparison, dialect: str, cap: int) -> sa.Select[Any]:
    """``SELECT count(*)`` of the rows a value clause matches, counting no further than
    ``cap`` (so the count itself stays cheap)."""
    table = _VALUE_TABLES[comparison.kind]
    matching = (
        sa.select(sa.literal(1))
        .where(table.c.key == comparison.key, _value_condition(comparison, table, dialect))
        .limit(cap)
        .subquery()
    )
    return sa.select(sa.func.count()).select_from(matching)


def _condition(comparison: Comparison, dialect: str, *, drive: bool) -> ColumnElement[bool]:
    value = comparison.value
    if comparison.kind == "attribute":
        column: ColumnElement[Any] = _ATTRIBUTE_COLUMNS[comparison.key]
        if comparison.key == "status" and isinstance(value, str) and comparison.op in ("=", "!="):
            value = value.upper()
        if isinstance(value, float) and value.is_integer():
            value = int(value)  # compare integer columns with integers, so indexes apply
        return _compare(column, comparison.op, value, dialect)
    table = _VALUE_TABLES[comparison.kind]
    condition = _value_condition(comparison, table, dialect)
    if drive:
        candidates = sa.select(table.c.run_id).where(table.c.key == comparison.key, condition)
        return runs.c.id.in_(candidates)
    return sa.exists().where(table.c.run_id == runs.c.id, table.c.key == comparison.key, condition)


def _value_condition(comparison: Comparison, table: sa.Table, dialect: str) -> ColumnElement[bool]:
    value = comparison.value
    condition = _compare(table.c.value, comparison.op, value, dialect)
    if dialect == "postgresql" and comparison.kind != "metric" and comparison.op == "=":
        # lets PostgreSQL use its (key, left(value, 200)) index
        prefix = sa.func.left(table.c.value, INDEXED_PREFIX)
        condition = sa.and_(prefix == sa.func.left(sa.literal(value), INDEXED_PREFIX), condition)
    return condition


def _compare(
    column: ColumnElement[Any], op: str, value: str | float, dialect: str
) -> ColumnElement[bool]:
    if op in ("like", "ilike"):
        pattern = str(value)
        if _ends_with_escape(pattern):
            raise InvalidInputError(
                f"The pattern {pattern!r} ends with a lone backslash, the escape character; "
                "to match a backslash, escape it with another one."
            )
        if dialect == "sqlite":
            if op == "like":
                return column.op("GLOB", is_comparison=True)(like_to_glob(pattern))
            return column.ilike(pattern, escape="\\")
        return column.like(pattern) if op == "like" else column.ilike(pattern)
    comparisons = {
        "=": column.__eq__,
        "!=": column.__ne__,
        "<": column.__lt__,
        "<=": column.__le__,
        ">": column.__gt__,
        ">=": column.__ge__,
    }
    if isinstance(value, float) and math.isnan(value):
        raise InvalidInputError("A filter cannot compare with NaN.")
    result: ColumnElement[bool] = comparisons[op](value)
    return result


def _ends_with_escape(pattern: str) -> bool:
    trailing = len(pattern) - len(pattern.rstrip("\\"))
    return trailing % 2 == 1


def like_to_glob(pattern: str) -> str:
    """A LIKE pattern (``%``, ``_``, backslash escapes) as the equivalent GLOB pattern."""
    out: list[str] = []
    chars = iter(pattern)
    for char in chars:
        if char == "\\":
            out.append(_glob_literal(next(chars, "\\")))
        elif char == "%":
            out.append("*")
        elif char == "_":
            out.append("?")
        else:
            out.append(_glob_literal(char))
    return "".join(out)


def _glob_literal(char: str) -> str:
    return f"[{char}]" if char in "*?[" else char
