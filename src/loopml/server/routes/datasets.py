"""Datasets: add, get, list and delete versions, and the "run used version" lineage edges.

The bytes are tree objects in the artifact store (uploaded through ``/blobs`` first); these
routes number and find the versions.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from loopml.core.entities import DatasetInput, DatasetVersion
from loopml.server.audit import attributed
from loopml.server.auth import Principal, require
from loopml.server.context import Context
from loopml.server.dataset_schemas import (
    DatasetInputList,
    DatasetInputsIn,
    DatasetVersionAdded,
    DatasetVersionIn,
    DatasetVersionList,
    DatasetVersionOut,
    dataset_version_out,
)
from loopml.server.paging_params import MaxResults, NewestFirst, PageToken, is_paged, page_size

router = APIRouter(tags=["datasets"])
Writer = Annotated[Principal, Depends(require("datasets:write"))]
READ = [Depends(require("datasets:read"))]


@router.post("/datasets/{name}/versions", status_code=201)
def add_dataset_version(
    name: str, body: DatasetVersionIn, ctx: Context, principal: Writer, response: Response
) -> DatasetVersionAdded:
    """The next version of ``name`` (201), or its newest version if that already has this
    tree (200, ``added`` false, nothing written). The dataset is created on first use."""
    new = DatasetVersion(dataset=name, version=0, **body.model_dump())
    version, added = ctx.metadata_store.add_dataset_version(new, event=attributed(principal))
    if not added:
        response.status_code = 200
    return DatasetVersionAdded(version=dataset_version_out(version), added=added)


@router.get("/datasets", dependencies=READ)
def list_datasets(
    ctx: Context, max_results: MaxResults = None, page_token: PageToken = None
) -> DatasetVersionList:
    """The newest version of every dataset, by name; with ``max_results`` or
    ``page_token``, one page (by code point order of the names)."""
    return _versions(ctx, None, (max_results, page_token, False))


@router.get("/datasets/{name}/versions", dependencies=READ)
def list_dataset_versions(
    name: str,
    ctx: Context,
    max_results: MaxResults = None,
    page_token: PageToken = None,
    newest_first: NewestFirst = False,
) -> DatasetVersionList:
    """Every version of ``name``, oldest first; with ``max_results``, ``page_token`` or
    ``newest_first``, one page."""
    return _versions(ctx, name, (max_results, page_token, newest_first))


def _versions(
    ctx: Context, name: str | None, paging: tuple[int | None, str | None, bool]
) -> DatasetVersionList:
    max_results, page_token, newest_first = paging
    store = ctx.metadata_store
    if is_paged(max_results, page_token, newest_first):
        page = store.page_dataset_versions(
            name, max_results=page_size(max_results), page_token=page_token,
            newest_first=newest_first,
        )  # fmt: skip
        return DatasetVersionList.of(page)
    return DatasetVersionList.of(store.list_dataset_versions(name))


# before /{version}: "latest" is not a number
@router.get("/datasets/{name}/versions/latest", dependencies=READ)
def get_latest_dataset_version(name: str, ctx: Context) -> DatasetVersionOut:
    return dataset_version_out(ctx.metadata_store.get_dataset_version(name, None))


@router.get("/datasets/{name}/versions/{version}", dependencies=READ)
def get_dataset_version(name: str, version: int, ctx: Context) -> DatasetVersionOut:
    return dataset_version_out(ctx.metadata_store.get_dataset_version(name, version))


@router.delete("/datasets/{name}/versions/{version}", status_code=204)
def delete_dataset_version(name: str, version: int, ctx: Context, principal: Writer) -> Response:
    """Delete one version; its number is never handed out again."""
    ctx.metadata_store.delete_dataset_version(name, version, event=attributed(principal))
    return Response(status_code=204)


@router.delete("/datasets/{name}", status_code=204)
def delete_dataset(name: str, ctx: Context, principal: Writer) -> Response:
    """Delete every version of ``name`` and their lineage edges."""
    ctx.metadata_store.delete_dataset_version(name, None, event=attributed(principal))
    return Response(status_code=204)


@router.post("/runs/{run_id}/dataset-inputs", status_code=204)
def add_dataset_inputs(
    run_id: str, body: DatasetInputsIn, ctx: Context, principal: Writer
) -> Response:
    """Record that the run used these versions (idempotent; all or nothing)."""
    edges = [DatasetInput(run_id=run_id, **ref.model_dump()) for ref in body.inputs]
    pairs = [(e.dataset, e.version) for e in edges]
    ctx.metadata_store.add_dataset_inputs(run_id, pairs, event=attributed(principal))
    return Response(status_code=204)


@router.get("/dataset-inputs", dependencies=READ)
def list_dataset_inputs(
    ctx: Context,
    run_id: Annotated[str | None, Query()] = None,
    dataset: Annotated[str | None, Query()] = None,
) -> DatasetInputList:
    """Lineage edges, filtered by run and/or dataset."""
    edges = ctx.metadata_store.list_dataset_inputs(run_id=run_id, dataset=dataset)
    return DatasetInputList.of(edges)
