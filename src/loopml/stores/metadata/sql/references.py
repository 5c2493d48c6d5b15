"""Every blob digest the metadata names: the roots of ``loopml gc``.

``BLOB_COLUMNS`` name plain blobs, ``TREE_COLUMNS`` tree objects (whose entries the collector
reads). Tag and param values that are digests (a pipeline step's ``loopml.output``) count as
trees where they are trees. A test checks that every digest column of the schema is listed
here, so a new table that names blobs cannot be forgotten by the collector.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from loopml.stores.metadata.base import ReferencedDigests
from loopml.stores.metadata.sql.schema import (
    artifact_edges,
    artifacts,
    dataset_versions,
    events,
    experiment_tags,
    model_gate_results,
    model_versions,
    params,
    run_tags,
)

BLOB_COLUMNS: tuple[sa.Column[str], ...] = (
    artifacts.c.digest,  # run artifacts, prediction-log parts included
    dataset_versions.c.profiles_digest,
)
TREE_COLUMNS: tuple[sa.Column[str], ...] = (
    dataset_versions.c.tree_digest,
    model_versions.c.tree_digest,
    artifact_edges.c.digest,  # pipeline step outputs and inputs
)
VALUE_COLUMNS: tuple[sa.Column[str], ...] = (
    run_tags.c.value,  # e.g. loopml.output, the cached output of a step
    params.c.value,
    experiment_tags.c.value,
)
NOT_BLOBS: tuple[sa.Column[str], ...] = (
    model_gate_results.c.policy_digest,  # sha256 of the policy as evaluated; no blob
    events.c.before_digest,  # the audit log's digests of states, not of stored bytes
    events.c.after_digest,
)
"""Digest columns that name no blob (kept here so the schema test sees them decided)."""
DIGEST_PREFIX = "blake3:"


def referenced_digests(conn: Connection) -> ReferencedDigests:
    """The digests named by every column above (distinct, NULLs skipped)."""
    blobs: set[str] = set()
    trees: set[str] = set()
    for columns, found in ((BLOB_COLUMNS, blobs), (TREE_COLUMNS, trees)):
        for column in columns:
            query = sa.select(column).where(column.is_not(None)).distinct()
            found.update(str(value) for value in conn.execute(query).scalars())
    for column in VALUE_COLUMNS:
        query = sa.select(column).where(column.like(f"{DIGEST_PREFIX}%")).distinct()
        trees.update(str(value) for value in conn.execute(query).scalars())
    return ReferencedDigests(blobs=frozenset(blobs), trees=frozenset(trees))
