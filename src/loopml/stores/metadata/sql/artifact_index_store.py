"""The files logged to a run and the trees a run read or wrote (lineage edges): the artifact
index slice of :class:`~loopml.stores.metadata.sql.store.SqlMetadataStore`.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from loopml.core.entities import ArtifactEdge, ArtifactEntry
from loopml.core.validation import (
    normalize_artifact_path,
    validate_artifact_edges,
    validate_edge_digest,
)
from loopml.stores.metadata.event_store import NewEvent
from loopml.stores.metadata.sql import lineage
from loopml.stores.metadata.sql.connections import SqlStoreBase
from loopml.stores.metadata.sql.event_store import audited, insert_event
from loopml.stores.metadata.sql.schema import artifacts
from loopml.stores.metadata.sql.writes import check_id, validate_artifacts


class SqlArtifactIndexStore(SqlStoreBase):
    """A run's artifact entries and lineage edges on SQLite or PostgreSQL."""

    def add_artifacts(
        self, run_id: str, entries: Sequence[ArtifactEntry], *, event: NewEvent | None = None
    ) -> None:
        check_id("run", run_id)
        by_path = validate_artifacts(entries)
        with self._write() as conn:
            self._require_run(conn, run_id, lock=True)
            if by_path:
                self._upserts.write_artifacts(conn, run_id, by_path)
                payload = {"paths": sorted(by_path)}
                after = {path: entry.digest for path, entry in sorted(by_path.items())}
                new = audited(event, "run.add_artifacts", f"run:{run_id}", payload, after=after)
                insert_event(conn, new)

    def list_artifact_entries(self, run_id: str, prefix: str = "") -> list[ArtifactEntry]:
        check_id("run", run_id)
        prefix = normalize_artifact_path(prefix)
        query = sa.select(artifacts).where(artifacts.c.run_id == run_id).order_by(artifacts.c.path)
        if prefix:
            # substr, not LIKE: LIKE ignores case on SQLite and treats % and _ as wildcards
            under = sa.func.substr(artifacts.c.path, 1, len(prefix) + 1) == prefix + "/"
            query = query.where(sa.or_(artifacts.c.path == prefix, under))
        with self._read() as conn:
            self._require_run(conn, run_id)
            rows = conn.execute(query).all()
        return [ArtifactEntry(r.path, r.digest, r.size) for r in rows]

    # artifact lineage (see .lineage)

    def add_artifact_edges(
        self, run_id: str, edges: Sequence[tuple[str, str, str]], *, event: NewEvent | None = None
    ) -> None:
        check_id("run", run_id)
        triples = validate_artifact_edges(edges)
        with self._write() as conn:
            self._require_run(conn, run_id, lock=True)
            lineage.add_edges(conn, run_id, triples)
            if triples:
                # as stored: distinct, sorted, digests normalised
                payload = {
                    "edges": [
                        {"direction": direction, "digest": digest, "name": name}
                        for direction, digest, name in triples
                    ]
                }
                target = f"run:{run_id}"
                insert_event(conn, audited(event, "run.add_artifact_edges", target, payload))

    def list_artifact_edges(
        self, *, run_id: str | None = None, digest: str | None = None
    ) -> list[ArtifactEdge]:
        run = None if run_id is None else check_id("run", run_id)
        tree = None if digest is None else validate_edge_digest(digest)
        with self._read() as conn:
            return lineage.list_edges(conn, run, tree)
