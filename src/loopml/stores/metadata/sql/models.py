"""The model registry in SQL, inside the caller's transaction.

Versions are numbered like dataset versions (see :mod:`.datasets`): a ``registered_models``
row carries ``next_version``, and every write to a model (a new version, an alias move, a tag,
a delete, a gate result, an approval) first locks that row (``SELECT … FOR NO KEY UPDATE`` on
PostgreSQL; SQLite write transactions are serialised already). So concurrent adders never get
the same number, an alias can never be pointed at a version being deleted, and the alias
history is written in the same order as the moves. A version's gate results and approvals
reference it with ``ON DELETE CASCADE``: deleting the version deletes them in its transaction.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from loopml.core.entities import (
    AliasChange,
    GateResult,
    ModelApproval,
    ModelVersion,
    RegisteredModel,
)
from loopml.core.errors import ConflictError, NotFoundError
from loopml.core.ids import new_id, now_ms
from loopml.core.suggest import MAX_CANDIDATES, did_you_mean
from loopml.stores.metadata.sql.dialects import insert_for
from loopml.stores.metadata.sql.schema import (
    model_alias_history,
    model_aliases,
    model_approvals,
    model_gate_results,
    model_versions,
    registered_models,
)

# versions and aliases named in a "not found" message; more are elided
_LISTED = 20


def find_model(conn: Connection, name: str, *, lock: bool = False) -> Row[Any]:
    query = sa.select(registered_models).where(registered_models.c.name == name)
    if lock:  # PostgreSQL: concurrent writers to this model wait (FOR NO KEY UPDATE)
        query = query.with_for_update(key_share=True)
    row = conn.execute(query).first()
    if row is None:
        names = conn.scalars(sa.select(registered_models.c.name).limit(MAX_CANDIDATES))
        hint = did_you_mean(name, names)
        raise NotFoundError(
            f"No model named {name!r}.{hint or ' Register a version to create it.'}"
        )
    return row


def add_version(conn: Connection, spec: ModelVersion) -> ModelVersion:
    """Add the validated ``spec`` as the next version of its model (created if missing)."""
    model = _create_and_lock(conn, spec.model)
    added = dataclasses.replace(spec, version=model.next_version)
    conn.execute(
        sa.update(registered_models)
        .where(registered_models.c.id == model.id)
        .values(next_version=model.next_version + 1, updated_at=now_ms())
    )
    conn.execute(
        sa.insert(model_versions).values(
            model_id=model.id,
            version=added.version,
            flavor=added.flavor,
            tree_digest=added.tree_digest,
            created_at=added.created_at,
            run_id=added.run_id,
            signature=added.signature,
            metrics=dict(added.metrics),
            datasets=list(added.datasets),
            requirements=list(added.requirements),
            description=added.description,
            tags=dict(added.tags),
            created_by=added.created_by,
        )
    )
    return added


def _create_and_lock(conn: Connection, name: str) -> Row[Any]:
    """The model row, created if missing, locked until the transaction ends."""
    now = now_ms()
    # a concurrent creator makes this insert wait, then do nothing
    create = (
        insert_for(conn.dialect.name, registered_models)
        .values(
            id=new_id(), name=name, description="", created_at=now, updated_at=now, next_version=1
        )
        .on_conflict_do_nothing(index_elements=["name"])
    )
    conn.execute(create)
    return find_model(conn, name, lock=True)


def get_version(conn: Connection, name: str, version: int | None) -> ModelVersion:
    model = find_model(conn, name)
    query = sa.select(model_versions).where(model_versions.c.model_id == model.id)
    if version is None:
        query = query.order_by(model_versions.c.version.desc()).limit(1)
    else:
        query = query.where(model_versions.c.version == version)
    row = conn.execute(query).first()
    if row is None:
        raise _missing_version(conn, model, version)
    return version_of(name, row)


def list_versions(conn: Connection, name: str) -> list[ModelVersion]:
    model = find_model(conn, name)
    rows = conn.execute(
        sa.select(model_versions)
        .where(model_versions.c.model_id == model.id)
        .order_by(model_versions.c.version)
    ).all()
    return [version_of(name, row) for row in rows]


def get_model(conn: Connection, name: str) -> RegisteredModel:
    return models_of(conn, [find_model(conn, name)])[0]


def list_models(conn: Connection) -> list[RegisteredModel]:
    rows = conn.execute(sa.select(registered_models)).all()
    # sorted here, not by the database: PostgreSQL's collation may not order by code point
    return models_of(conn, sorted(rows, key=lambda row: row.name), every=True)


def set_alias(
    conn: Connection,
    name: str,
    alias: str,
    version: int | None,
    *,
    actor: str | None,
    reason: str,
) -> AliasChange:
    """Move (or with ``version`` None remove) ``alias`` and append the move to its history."""
    model = find_model(conn, name, lock=True)
    aliases = _aliases(conn, [model.id]).get(model.id, {})
    current = aliases.get(alias)
    at = now_ms()
    if version is None and current is None:
        raise _missing_alias(model.name, alias, aliases)
    if version is not None and not _has_version(conn, model.id, version):
        raise _missing_version(conn, model, version)
    change = AliasChange(name, alias, current, version, at, actor, reason)
    if current == version:
        return change  # nothing moved, nothing recorded
    where = sa.and_(model_aliases.c.model_id == model.id, model_aliases.c.alias == alias)
    if version is None:
        conn.execute(sa.delete(model_aliases).where(where))
    elif current is None:
        conn.execute(
            sa.insert(model_aliases).values(model_id=model.id, alias=alias, version=version)
        )
    else:
        conn.execute(sa.update(model_aliases).where(where).values(version=version))
    conn.execute(
        sa.insert(model_alias_history).values(
            model_id=model.id,
            alias=alias,
            from_version=current,
            to_version=version,
            at=at,
            actor=actor,
            reason=reason,
        )
    )
    conn.execute(
        sa.update(registered_models).where(registered_models.c.id == model.id).values(updated_at=at)
    )
    return change


def get_alias(conn: Connection, name: str, alias: str) -> int:
    model = find_model(conn, name)
    aliases = _aliases(conn, [model.id]).get(model.id, {})
    if alias not in aliases:
        raise _missing_alias(model.name, alias, aliases)
    return aliases[alias]


def alias_history(conn: Connection, name: str, alias: str | None) -> list[AliasChange]:
    model = find_model(conn, name)
    query = (
        sa.select(model_alias_history)
        .where(model_alias_history.c.model_id == model.id)
        .order_by(model_alias_history.c.id)
    )
    if alias is not None:
        query = query.where(model_alias_history.c.alias == alias)
    return [alias_change_of(name, row) for row in conn.execute(query).all()]


def alias_change_of(name: str, row: Row[Any]) -> AliasChange:
    return AliasChange(
        model=name,
        alias=row.alias,
        from_version=row.from_version,
        to_version=row.to_version,
        at=row.at,
        actor=row.actor,
        reason=row.reason,
    )


def set_tag(conn: Connection, name: str, version: int, key: str, value: str) -> None:
    model = find_model(conn, name, lock=True)  # concurrent tag writers take turns
    where = sa.and_(model_versions.c.model_id == model.id, model_versions.c.version == version)
    tags = conn.execute(sa.select(model_versions.c.tags).where(where)).scalar_one_or_none()
    if tags is None:
        raise _missing_version(conn, model, version)
    conn.execute(sa.update(model_versions).where(where).values(tags={**tags, key: value}))


def delete_version(conn: Connection, name: str, version: int) -> None:
    model = find_model(conn, name, lock=True)
    pointing = sorted(
        alias for alias, at in _aliases(conn, [model.id]).get(model.id, {}).items() if at == version
    )
    if pointing:
        listed = ", ".join(repr(alias) for alias in pointing)
        raise ConflictError(
            f"Version {version} of model {name!r} cannot be deleted: the alias(es) {listed} "
            "point at it. Move or remove them first."
        )
    deleted = conn.execute(
        sa.delete(model_versions).where(
            model_versions.c.model_id == model.id, model_versions.c.version == version
        )
    )
    if deleted.rowcount == 0:
        raise _missing_version(conn, model, version)
    # its gate results and approvals went with it (ON DELETE CASCADE)


def add_gate_result(conn: Connection, result: GateResult) -> GateResult:
    """Store the validated ``result``; an id already stored → :class:`ConflictError`."""
    model = _lock_version(conn, result.model, result.version)
    taken = sa.select(model_gate_results.c.id).where(model_gate_results.c.id == result.id)
    if conn.execute(taken).first() is not None:
        raise ConflictError(
            f"A gate result with id {result.id!r} is already stored; gate results are never "
            "overwritten, so give a new result a new id (new_id())."
        )
    conn.execute(
        sa.insert(model_gate_results).values(
            id=result.id,
            model_id=model.id,
            version=result.version,
            passed=result.passed,
            checks=[dict(check) for check in result.checks],
            policy=dict(result.policy),
            policy_digest=result.policy_digest,
            evaluated_at=result.evaluated_at,
            against=result.against,
            dataset=result.dataset,
            actor=result.actor,
        )
    )
    return result


def list_gate_results(conn: Connection, name: str, version: int | None) -> list[GateResult]:
    table = model_gate_results
    rows = _version_rows(conn, table, name, version, table.c.evaluated_at, table.c.id)
    return [gate_result_of(name, row) for row in rows]


def gate_result_of(name: str, row: Row[Any]) -> GateResult:
    return GateResult(
        id=row.id,
        model=name,
        version=row.version,
        passed=row.passed,
        checks=tuple(row.checks),
        policy=row.policy,
        policy_digest=row.policy_digest,
        evaluated_at=row.evaluated_at,
        against=row.against,
        dataset=row.dataset,
        actor=row.actor,
    )


def add_approval(
    conn: Connection, name: str, version: int, *, actor: str | None, comment: str
) -> ModelApproval:
    model = _lock_version(conn, name, version)
    approval = ModelApproval(name, version, now_ms(), actor, comment)
    conn.execute(
        sa.insert(model_approvals).values(
            model_id=model.id, version=version, at=approval.at, actor=actor, comment=comment
        )
    )
    return approval


def list_approvals(conn: Connection, name: str, version: int | None) -> list[ModelApproval]:
    table = model_approvals
    return [
        ModelApproval(name, row.version, row.at, row.actor, row.comment)
        for row in _version_rows(conn, table, name, version, table.c.at, table.c.id)
    ]


def _lock_version(conn: Connection, name: str, version: int) -> Row[Any]:
    """The model row, locked until the transaction ends, once ``version`` is known to exist."""
    model = find_model(conn, name, lock=True)
    if not _has_version(conn, model.id, version):
        raise _missing_version(conn, model, version)
    return model


def _version_rows(
    conn: Connection, table: sa.Table, name: str, version: int | None, *order: sa.Column[Any]
) -> list[Row[Any]]:
    """The rows of ``table`` for model ``name`` (only ``version``'s, which must exist)."""
    model = find_model(conn, name)
    query = sa.select(table).where(table.c.model_id == model.id).order_by(*order)
    if version is not None:
        require_version(conn, model, version)
        query = query.where(table.c.version == version)
    return list(conn.execute(query).all())


def require_version(conn: Connection, model: Row[Any], version: int) -> None:
    """:class:`NotFoundError` naming the versions when ``model`` has no ``version``."""
    if not _has_version(conn, model.id, version):
        raise _missing_version(conn, model, version)


def _has_version(conn: Connection, model_id: str, version: int) -> bool:
    query = sa.select(model_versions.c.version).where(
        model_versions.c.model_id == model_id, model_versions.c.version == version
    )
    return conn.execute(query).first() is not None


def _missing_version(conn: Connection, model: Row[Any], version: int | None) -> NotFoundError:
    numbers = list(
        conn.execute(
            sa.select(model_versions.c.version)
            .where(model_versions.c.model_id == model.id)
            .order_by(model_versions.c.version)
        ).scalars()
    )
    if not numbers:
        return NotFoundError(
            f"Model {model.name!r} has no versions (all were deleted); register one first."
        )
    shown = ", ".join(str(n) for n in numbers[-_LISTED:])
    if len(numbers) > _LISTED:
        shown = f"…, {shown}"
    return NotFoundError(f"Model {model.name!r} has no version {version}; versions: {shown}.")


def _missing_alias(name: str, alias: str, aliases: dict[str, int]) -> NotFoundError:
    if not aliases:
        return NotFoundError(f"Model {name!r} has no alias {alias!r}; it has no aliases.")
    shown = ", ".join(sorted(aliases)[:_LISTED])
    if len(aliases) > _LISTED:
        shown += ", …"
    return NotFoundError(f"Model {name!r} has no alias {alias!r}; its aliases: {shown}.")


def _aliases(conn: Connection, model_ids: list[str] | None) -> dict[str, dict[str, int]]:
    """``{model id: {alias: version}}`` for these models (None: every model)."""
    found: dict[str, dict[str, int]] = defaultdict(dict)
    query = sa.select(model_aliases)
    if model_ids is not None:
        query = query.where(model_aliases.c.model_id.in_(model_ids))
    for row in conn.execute(query).all():
        found[row.model_id][row.alias] = row.version
    return found


def models_of(
    conn: Connection, rows: list[Row[Any]], *, every: bool = False
) -> list[RegisteredModel]:
    """Entities for ``registered_models`` rows (``every``: the rows are all of them)."""
    ids = None if every else [row.id for row in rows]
    aliases = _aliases(conn, ids)
    query = sa.select(model_versions.c.model_id, sa.func.max(model_versions.c.version))
    if ids is not None:
        query = query.where(model_versions.c.model_id.in_(ids))
    newest: dict[str, int] = {
        model_id: number
        for model_id, number in conn.execute(query.group_by(model_versions.c.model_id))
    }
    return [
        RegisteredModel(
            name=row.name,
            created_at=row.created_at,
            updated_at=row.updated_at,
            description=row.description,
            latest_version=newest.get(row.id),
            aliases=dict(sorted(aliases.get(row.id, {}).items())),
        )
        for row in rows
    ]


def version_of(name: str, row: Row[Any]) -> ModelVersion:
    return ModelVersion(
        model=name,
        version=row.version,
        flavor=row.flavor,
        tree_digest=row.tree_digest,
        created_at=row.created_at,
        run_id=row.run_id,
        signature=row.signature,
        metrics={key: float(value) for key, value in row.metrics.items()},
        datasets=tuple(row.datasets),
        requirements=tuple(row.requirements),
        description=row.description,
        tags=dict(row.tags),
        created_by=row.created_by,
    )
