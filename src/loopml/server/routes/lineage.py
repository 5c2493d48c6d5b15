"""Artifact lineage: which run read (``input``) or wrote (``output``) which stored tree.

The trees are in the artifact store; these routes record and query the edges, both ways (what
a run used and produced; which runs used or produced a tree).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from loopml.core.entities import ArtifactEdge
from loopml.server.audit import attributed
from loopml.server.auth import Principal, require
from loopml.server.context import Context
from loopml.server.dataset_schemas import ArtifactEdgeList, ArtifactEdgesIn

router = APIRouter(tags=["lineage"])
Writer = Annotated[Principal, Depends(require("runs:write"))]
READ = [Depends(require("runs:read"))]


@router.post("/runs/{run_id}/artifact-edges", status_code=204)
def add_artifact_edges(
    run_id: str, body: ArtifactEdgesIn, ctx: Context, principal: Writer
) -> Response:
    """Record that the run read or wrote these trees (idempotent; all or nothing)."""
    edges = [ArtifactEdge(run_id=run_id, **ref.model_dump()) for ref in body.edges]
    triples = [(e.direction, e.digest, e.name) for e in edges]
    ctx.metadata_store.add_artifact_edges(run_id, triples, event=attributed(principal))
    return Response(status_code=204)


@router.get("/artifact-edges", dependencies=READ)
def list_artifact_edges(
    ctx: Context,
    run_id: Annotated[str | None, Query()] = None,
    digest: Annotated[str | None, Query()] = None,
) -> ArtifactEdgeList:
    """Lineage edges filtered by run and/or tree digest, ordered by run, direction, name and
    digest."""
    return ArtifactEdgeList.of(ctx.metadata_store.list_artifact_edges(run_id=run_id, digest=digest))
