"""Artifact lineage edges in SQL, inside the caller's transaction.

An edge says a run read (``input``) or wrote (``output``) the stored tree with a digest, under
a name. Edges are validated before the transaction (see
:func:`loopml.core.validation.validate_artifact_edges`) and go when their run is deleted
(``ON DELETE CASCADE``).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from loopml.core.entities import ArtifactEdge
from loopml.stores.metadata.sql.dialects import insert_for
from loopml.stores.metadata.sql.schema import artifact_edges


def add_edges(conn: Connection, run_id: str, edges: Sequence[tuple[str, str, str]]) -> None:
    """Insert the validated ``(direction, digest, name)`` edges; existing ones stay as they are."""
    if not edges:
        return
    rows = [
        {"run_id": run_id, "direction": direction, "digest": digest, "name": name}
        for direction, digest, name in edges
    ]
    conn.execute(insert_for(conn.dialect.name, artifact_edges).on_conflict_do_nothing(), rows)


def list_edges(conn: Connection, run_id: str | None, digest: str | None) -> list[ArtifactEdge]:
    query = sa.select(artifact_edges)
    if run_id is not None:
        query = query.where(artifact_edges.c.run_id == run_id)
    if digest is not None:
        query = query.where(artifact_edges.c.digest == digest)
    edges = [ArtifactEdge(r.run_id, r.direction, r.digest, r.name) for r in conn.execute(query)]
    # sorted here, not by the database: PostgreSQL's collation may not order by code point
    return sorted(edges, key=lambda e: (e.run_id, e.direction, e.name, e.digest))
