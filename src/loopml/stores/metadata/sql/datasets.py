"""Dataset versions and lineage edges in SQL, inside the caller's transaction.

A ``datasets`` row carries ``next_version``, the number its next version gets. Adding a version
locks that row (``SELECT … FOR NO KEY UPDATE`` on PostgreSQL; SQLite write transactions are
serialised already), so concurrent adders queue and never get the same number, and since the
counter never goes down, numbers of deleted versions are not handed out again.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from loopml.core.entities import DatasetInput, DatasetVersion
from loopml.core.errors import ConflictError, NotFoundError
from loopml.core.ids import new_id, now_ms
from loopml.core.suggest import MAX_CANDIDATES, did_you_mean
from loopml.stores.metadata.sql.dialects import insert_for
from loopml.stores.metadata.sql.schema import dataset_inputs, dataset_versions, datasets

# versions named in a "not found" message; more are elided
_LISTED_VERSIONS = 20


def find_dataset(conn: Connection, name: str, *, lock: bool = False) -> Row[Any]:
    query = sa.select(datasets).where(datasets.c.name == name)
    if lock:  # PostgreSQL: concurrent adders and deleters of this dataset wait
        query = query.with_for_update()
    row = conn.execute(query).first()
    if row is None:
        names = conn.scalars(sa.select(datasets.c.name).limit(MAX_CANDIDATES))
        hint = did_you_mean(name, names)
        raise NotFoundError(f"No dataset named {name!r}.{hint or ' Add a version to create it.'}")
    return row


def add_version(conn: Connection, spec: DatasetVersion) -> tuple[DatasetVersion, bool]:
    """Add ``spec`` as the next version of its dataset, or return the newest if it has the
    same tree (with False)."""
    dataset = _create_and_lock(conn, spec.dataset)
    newest = conn.execute(
        sa.select(dataset_versions)
        .where(dataset_versions.c.dataset_id == dataset.id)
        .order_by(dataset_versions.c.version.desc())
        .limit(1)
    ).first()
    if newest is not None and newest.tree_digest == spec.tree_digest:
        return entity_of(spec.dataset, newest), False
    added = dataclasses.replace(spec, version=dataset.next_version)
    conn.execute(
        sa.update(datasets)
        .where(datasets.c.id == dataset.id)
        .values(next_version=dataset.next_version + 1)
    )
    conn.execute(
        sa.insert(dataset_versions).values(
            dataset_id=dataset.id,
            version=added.version,
            tree_digest=added.tree_digest,
            profiles_digest=added.profiles_digest,
            message=added.message,
            size=added.size,
            file_count=added.file_count,
            created_at=added.created_at,
            run_id=added.run_id,
            source=added.source,
        )
    )
    return added, True


def _create_and_lock(conn: Connection, name: str) -> Row[Any]:
    """The dataset row, created if missing, locked until the transaction ends."""
    # a concurrent creator makes this insert wait, then do nothing
    create = (
        insert_for(conn.dialect.name, datasets)
        .values(id=new_id(), name=name, created_at=now_ms(), next_version=1)
        .on_conflict_do_nothing(index_elements=["name"])
    )
    lock = (
        sa.select(datasets).where(datasets.c.name == name).with_for_update(key_share=True)
    )  # FOR NO KEY UPDATE
    for _attempt in range(3):  # the row may be deleted between the two statements
        conn.execute(create)
        row = conn.execute(lock).first()
        if row is not None:
            return row
    raise ConflictError(f"Dataset {name!r} is being deleted and re-created concurrently; retry.")


def get_version(conn: Connection, name: str, version: int | None) -> DatasetVersion:
    dataset = find_dataset(conn, name)
    query = sa.select(dataset_versions).where(dataset_versions.c.dataset_id == dataset.id)
    if version is None:
        query = query.order_by(dataset_versions.c.version.desc()).limit(1)
    else:
        query = query.where(dataset_versions.c.version == version)
    row = conn.execute(query).first()
    if row is None:
        raise missing_version(conn, dataset, version)
    return entity_of(name, row)


def missing_version(conn: Connection, dataset: Row[Any], version: int | None) -> NotFoundError:
    numbers = list(
        conn.execute(
            sa.select(dataset_versions.c.version)
            .where(dataset_versions.c.dataset_id == dataset.id)
            .order_by(dataset_versions.c.version)
        ).scalars()
    )
    if not numbers:
        return NotFoundError(
            f"Dataset {dataset.name!r} has no versions (all were deleted); add one first."
        )
    shown = ", ".join(str(n) for n in numbers[-_LISTED_VERSIONS:])
    if len(numbers) > _LISTED_VERSIONS:
        shown = f"…, {shown}"
    return NotFoundError(f"Dataset {dataset.name!r} has no version {version}; versions: {shown}.")


def list_versions(conn: Connection, name: str | None) -> list[DatasetVersion]:
    if name is not None:
        dataset = find_dataset(conn, name)
        rows = conn.execute(
            sa.select(dataset_versions)
            .where(dataset_versions.c.dataset_id == dataset.id)
            .order_by(dataset_versions.c.version)
        ).all()
        return [entity_of(name, row) for row in rows]
    newest = (
        sa.select(
            dataset_versions.c.dataset_id, sa.func.max(dataset_versions.c.version).label("newest")
        )
        .group_by(dataset_versions.c.dataset_id)
        .subquery()
    )
    query = (
        sa.select(datasets.c.name, dataset_versions)
        .join(dataset_versions, dataset_versions.c.dataset_id == datasets.c.id)
        .join(
            newest,
            sa.and_(
                newest.c.dataset_id == dataset_versions.c.dataset_id,
                newest.c.newest == dataset_versions.c.version,
            ),
        )
        .order_by(datasets.c.name)
    )
    return [entity_of(row.name, row) for row in conn.execute(query).all()]


def delete(conn: Connection, name: str, version: int | None) -> None:
    dataset = find_dataset(conn, name, lock=True)
    if version is None:  # its versions and lineage edges go too (ON DELETE CASCADE)
        conn.execute(sa.delete(datasets).where(datasets.c.id == dataset.id))
        return
    deleted = conn.execute(
        sa.delete(dataset_versions).where(
            dataset_versions.c.dataset_id == dataset.id, dataset_versions.c.version == version
        )
    )
    if deleted.rowcount == 0:
        raise missing_version(conn, dataset, version)
    conn.execute(
        sa.delete(dataset_inputs).where(
            dataset_inputs.c.dataset_id == dataset.id, dataset_inputs.c.version == version
        )
    )


def add_inputs(conn: Connection, run_id: str, pairs: Sequence[tuple[str, int]]) -> None:
    """Record the edges; every pair must name an existing version (checked first)."""
    rows: list[dict[str, Any]] = []
    for name in sorted({name for name, _ in pairs}):
        dataset = find_dataset(conn, name)
        wanted = {version for pair_name, version in pairs if pair_name == name}
        # PostgreSQL: a concurrent delete of these versions waits until this transaction ends
        found = set(
            conn.execute(
                sa.select(dataset_versions.c.version)
                .where(
                    dataset_versions.c.dataset_id == dataset.id,
                    dataset_versions.c.version.in_(sorted(wanted)),
                )
                .with_for_update(read=True, key_share=True)
            ).scalars()
        )
        missing = sorted(wanted - found)
        if missing:
            raise missing_version(conn, dataset, missing[0])
        rows.extend({"run_id": run_id, "dataset_id": dataset.id, "version": v} for v in wanted)
    if rows:
        conn.execute(insert_for(conn.dialect.name, dataset_inputs).on_conflict_do_nothing(), rows)


def list_inputs(conn: Connection, run_id: str | None, name: str | None) -> list[DatasetInput]:
    query = (
        sa.select(dataset_inputs.c.run_id, datasets.c.name, dataset_inputs.c.version)
        .join(datasets, datasets.c.id == dataset_inputs.c.dataset_id)
        .order_by(datasets.c.name, dataset_inputs.c.version, dataset_inputs.c.run_id)
    )
    if run_id is not None:
        query = query.where(dataset_inputs.c.run_id == run_id)
    if name is not None:
        query = query.where(datasets.c.name == name)
    return [DatasetInput(r.run_id, r.name, r.version) for r in conn.execute(query).all()]


def entity_of(name: str, row: Row[Any]) -> DatasetVersion:
    return DatasetVersion(
        dataset=name,
        version=row.version,
        tree_digest=row.tree_digest,
        created_at=row.created_at,
        message=row.message,
        size=row.size,
        file_count=row.file_count,
        profiles_digest=row.profiles_digest,
        run_id=row.run_id,
        source=row.source,
    )
