"""The files logged to a run and the trees a run read or wrote (lineage edges): the artifact
index slice of :class:`~loopml.stores.metadata.sql.store.SqlMetadataStore`.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from loopml.core.entities import ArtifactEdge, ArtifactEntry, ArtifactListing, Page
from loopml.core.validation import (
    normalize_artifact_path,
    validate_artifact_edges,
    validate_edge_digest,
)
from loopml.stores.metadata.event_store import NewEvent
from loopml.stores.metadata.pages import DEFAULT_MAX_RESULTS
from loopml.stores.metadata.sql import lineage, paging
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

    def list_artifact_children(
        self,
        run_id: str,
        path: str = "",
        *,
        max_results: int = DEFAULT_MAX_RESULTS,
        page_token: str | None = None,
    ) -> Page[ArtifactListing]:
        check_id("run", run_id)
        path = normalize_artifact_path(path)
        limit = paging.check_max_results(max_results)
        query_id = paging.fingerprint(run_id, path)
        after = paging.decode_key(page_token, "artifact_children", (str, int), query_id)
        with self._read() as conn:
            self._require_run(conn, run_id)
            found = _children(conn, run_id, path, limit, after)
        more = len(found) > limit
        token = (
            paging.encode_key("artifact_children", found[limit - 1][1], query_id) if more else None
        )
        return Page([child for child, _ in found[:limit]], token)

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


def _children(
    conn: sa.Connection, run_id: str, path: str, limit: int, after: paging.Key | None
) -> list[tuple[ArtifactListing, paging.Key]]:
    """Up to ``limit + 1`` children of folder ``path`` after the seek key ``after``, each
    with the key to resume after it: ``[path, 0]`` (past a file), ``[folder + "0", 1]`` (at
    the first path past the folder's files, ``"0"`` following ``"/"``), so a sub-folder of a
    million files costs one seek, not a million rows. A file at ``path`` is its only child."""
    column = paging.code_point_order(artifacts.c.path, conn)
    base = sa.select(artifacts.c.path, artifacts.c.digest, artifacts.c.size).where(
        artifacts.c.run_id == run_id
    )
    prefix = f"{path}/" if path else ""
    if path:
        exact = conn.execute(base.where(artifacts.c.path == path)).first()
        if exact is not None:
            return [] if after else [(ArtifactListing(path, False, exact.size, exact.digest), [])]
        base = base.where(sa.func.substr(artifacts.c.path, 1, len(prefix)) == prefix)
    found: list[tuple[ArtifactListing, paging.Key]] = []
    seek = after
    while len(found) <= limit:
        wanted = limit + 1 - len(found)
        query = base
        if seek is not None:
            query = query.where(column >= seek[0] if seek[1] else column > seek[0])
        rows = conn.execute(query.order_by(column).limit(wanted)).all()
        jumped = False
        for row in rows:
            head, sep, _ = row.path[len(prefix) :].partition("/")
            child = prefix + head
            if sep:
                seek = [child + "0", 1]
                found.append((ArtifactListing(child, True), seek))
                jumped = True
                break
            seek = [row.path, 0]
            found.append((ArtifactListing(child, False, row.size, row.digest), seek))
        if not jumped and len(rows) < wanted:
            break
    return found
