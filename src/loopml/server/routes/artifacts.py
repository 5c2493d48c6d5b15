"""A run's artifact index: which file path of the run holds which blob."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from loopml.server.audit import attributed
from loopml.server.auth import Principal, require
from loopml.server.context import Context
from loopml.server.paging_params import MaxResults, PageToken, page_size
from loopml.server.schemas import (
    ArtifactChildren,
    ArtifactEntries,
    ArtifactEntriesIn,
    ArtifactEntryModel,
)
from loopml.stores.artifacts.entries import check_entries_point_at_stored_blobs

router = APIRouter(tags=["artifacts"])


@router.post("/runs/{run_id}/artifacts", status_code=204)
def add_artifacts(
    run_id: str,
    body: ArtifactEntriesIn,
    ctx: Context,
    principal: Annotated[Principal, Depends(require("artifacts:write"))],
) -> Response:
    """Record files logged to the run; a path logged again points at the new content. Every
    entry must point at a blob already uploaded (``PUT /blobs``), with its size."""
    entries = [entry.to_entity() for entry in body.entries]
    check_entries_point_at_stored_blobs(ctx.artifact_store, entries)
    ctx.metadata_store.add_artifacts(run_id, entries, event=attributed(principal))
    return Response(status_code=204)


@router.get("/runs/{run_id}/artifacts", dependencies=[Depends(require("artifacts:read"))])
def list_artifact_entries(
    run_id: str, ctx: Context, prefix: Annotated[str, Query()] = ""
) -> ArtifactEntries:
    """Every file of the run whose path is ``prefix`` or lies under it."""
    entries = ctx.metadata_store.list_artifact_entries(run_id, prefix)
    return ArtifactEntries(items=[ArtifactEntryModel.of(entry) for entry in entries])


@router.get("/runs/{run_id}/artifact-children", dependencies=[Depends(require("artifacts:read"))])
def list_artifact_children(
    run_id: str,
    ctx: Context,
    path: Annotated[str, Query(max_length=1000)] = "",
    max_results: MaxResults = None,
    page_token: PageToken = None,
) -> ArtifactChildren:
    """The direct children of folder ``path`` (files and sub-folders), a page at a time;
    a file's path lists that file alone."""
    page = ctx.metadata_store.list_artifact_children(
        run_id, path, max_results=page_size(max_results), page_token=page_token
    )
    return ArtifactChildren.of(page)
