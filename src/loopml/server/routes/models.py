"""The model registry: versions, aliases (with their history), version tags, and the gate
results and approvals promotion checks.

Moving or removing an alias needs ``models:promote``; a move of a protected alias is held to
the server's promotion policy (see ``promotion_policy.py``): 409 names what is missing.

The files are tree objects in the artifact store (uploaded through ``/blobs`` first); these
routes number the versions and move the aliases. ``latest`` is not an alias: it names the
newest version in ``GET /models/{name}/versions/latest``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from loopml.server.audit import attributed
from loopml.server.auth import Principal, require
from loopml.server.context import Context
from loopml.server.paging_params import MaxResults, NewestFirst, PageToken, is_paged, page_size
from loopml.server.registry_moves import approve_version, move_alias
from loopml.server.registry_schemas import (
    AliasChangeOut,
    AliasHistory,
    AliasOut,
    AliasSet,
    ApprovalIn,
    GateResultIn,
    GateResultList,
    GateResultOut,
    ModelApprovalList,
    ModelApprovalOut,
    ModelVersionIn,
    ModelVersionList,
    ModelVersionOut,
    RegisteredModelList,
    RegisteredModelOut,
    TagValue,
    model_approval_out,
)

router = APIRouter(tags=["models"])
Writer = Annotated[Principal, Depends(require("models:write"))]
Approver = Annotated[Principal, Depends(require("models:approve"))]
Promoter = Annotated[Principal, Depends(require("models:promote"))]
READ = [Depends(require("models:read"))]


@router.get("/models", dependencies=READ)
def list_registered_models(
    ctx: Context, max_results: MaxResults = None, page_token: PageToken = None
) -> RegisteredModelList:
    """Every registered model, by name; with ``max_results`` or ``page_token``, one page (by
    code point order of the names; pass ``next_page_token`` back as ``page_token``)."""
    store = ctx.metadata_store
    if is_paged(max_results, page_token):
        page = store.page_registered_models(
            max_results=page_size(max_results), page_token=page_token
        )
        return RegisteredModelList.of(page)
    return RegisteredModelList.of(store.list_registered_models())


@router.get("/models/{name}", dependencies=READ)
def get_registered_model(name: str, ctx: Context) -> RegisteredModelOut:
    return RegisteredModelOut.of(ctx.metadata_store.get_registered_model(name))


@router.post("/models/{name}/versions", status_code=201)
def add_model_version(
    name: str, body: ModelVersionIn, ctx: Context, principal: Writer
) -> ModelVersionOut:
    """The next version of ``name``; the model is created on first use. With auth on, its
    ``created_by`` is the caller the server authenticated (a client cannot name another)."""
    new = body.to_entity(name)
    if principal.authenticated:
        new = replace(new, created_by=principal.name)
    version = ctx.metadata_store.add_model_version(new, event=attributed(principal))
    return ModelVersionOut.of(version)


@router.get("/models/{name}/versions", dependencies=READ)
def list_model_versions(
    name: str,
    ctx: Context,
    max_results: MaxResults = None,
    page_token: PageToken = None,
    newest_first: NewestFirst = False,
) -> ModelVersionList:
    """Every version of ``name``, oldest first; with ``max_results``, ``page_token`` or
    ``newest_first``, one page."""
    store = ctx.metadata_store
    if is_paged(max_results, page_token, newest_first):
        page = store.page_model_versions(
            name, max_results=page_size(max_results), page_token=page_token,
            newest_first=newest_first,
        )  # fmt: skip
        return ModelVersionList.of(page)
    return ModelVersionList.of(store.list_model_versions(name))


# before /{version}: "latest" is not a number
@router.get("/models/{name}/versions/latest", dependencies=READ)
def get_latest_model_version(name: str, ctx: Context) -> ModelVersionOut:
    return ModelVersionOut.of(ctx.metadata_store.get_model_version(name, None))


@router.get("/models/{name}/versions/{version}", dependencies=READ)
def get_model_version(name: str, version: int, ctx: Context) -> ModelVersionOut:
    return ModelVersionOut.of(ctx.metadata_store.get_model_version(name, version))


@router.delete("/models/{name}/versions/{version}", status_code=204)
def delete_model_version(name: str, version: int, ctx: Context, principal: Writer) -> Response:
    """Delete one version (409 while an alias points at it); its number is never reused."""
    ctx.metadata_store.delete_model_version(name, version, event=attributed(principal))
    return Response(status_code=204)


@router.put("/models/{name}/versions/{version}/tags/{key:path}", status_code=204)
def set_model_version_tag(
    name: str, version: int, key: str, body: TagValue, ctx: Context, principal: Writer
) -> Response:
    """Set (or overwrite) one tag of a version; the key may contain ``/``."""
    ctx.metadata_store.set_model_version_tag(
        name, version, key, body.value, event=attributed(principal)
    )
    return Response(status_code=204)


@router.put("/models/{name}/aliases/{alias}")
def set_model_alias(
    name: str, alias: str, body: AliasSet, ctx: Context, principal: Promoter
) -> AliasChangeOut:
    """Point ``alias`` at a version, recorded in its history with the caller as the actor.
    Setting the version it already has changes and records nothing (``from == to``). A
    protected alias (``champion``) moves only as the server's promotion policy allows (409
    names what is missing), back to a version it named before (a rollback), or with
    ``force`` and a reason."""
    move = (name, alias, body.version)
    change = move_alias(ctx, principal, move, reason=body.reason, force=body.force)
    return AliasChangeOut.of(change)


@router.delete("/models/{name}/aliases/{alias}")
def remove_model_alias(
    name: str,
    alias: str,
    ctx: Context,
    principal: Promoter,
    reason: Annotated[str, Query()] = "",
) -> AliasChangeOut:
    """Remove ``alias`` (404 if it is not set), recorded in its history."""
    change = ctx.metadata_store.set_model_alias(
        name, alias, None, actor=principal.name, reason=reason, event=attributed(principal)
    )
    return AliasChangeOut.of(change)


@router.get("/models/{name}/aliases/{alias}", dependencies=READ)
def get_model_alias(name: str, alias: str, ctx: Context) -> AliasOut:
    version = ctx.metadata_store.get_model_alias(name, alias)
    return AliasOut(model=name, alias=alias, version=version)


@router.get("/models/{name}/alias-history", dependencies=READ)
def list_alias_history(
    name: str,
    ctx: Context,
    alias: Annotated[str | None, Query()] = None,
    max_results: MaxResults = None,
    page_token: PageToken = None,
    newest_first: NewestFirst = False,
) -> AliasHistory:
    """Every move of ``alias`` (or of every alias of the model), oldest first; with
    ``max_results``, ``page_token`` or ``newest_first``, one page."""
    store = ctx.metadata_store
    if is_paged(max_results, page_token, newest_first):
        page = store.page_alias_history(
            name, alias, max_results=page_size(max_results), page_token=page_token,
            newest_first=newest_first,
        )  # fmt: skip
        return AliasHistory.of(page)
    return AliasHistory.of(store.list_alias_history(name, alias))


@router.post("/models/{name}/versions/{version}/gate-results", status_code=201)
def add_gate_result(
    name: str, version: int, body: GateResultIn, ctx: Context, principal: Writer
) -> GateResultOut:
    """Store a gate evaluation of the version with the caller as its actor (409: id taken)."""
    result = ctx.metadata_store.add_gate_result(
        body.to_entity(name, version, principal.name), event=attributed(principal)
    )
    return GateResultOut.of(result)


@router.get("/models/{name}/versions/{version}/gate-results", dependencies=READ)
def list_version_gate_results(
    name: str,
    version: int,
    ctx: Context,
    max_results: MaxResults = None,
    page_token: PageToken = None,
    newest_first: NewestFirst = False,
) -> GateResultList:
    """The version's gate results, oldest first; with ``max_results``, ``page_token`` or
    ``newest_first``, one page."""
    return _gate_results(ctx, name, version, (max_results, page_token, newest_first))


@router.get("/models/{name}/gate-results", dependencies=READ)
def list_gate_results(
    name: str,
    ctx: Context,
    max_results: MaxResults = None,
    page_token: PageToken = None,
    newest_first: NewestFirst = False,
) -> GateResultList:
    """The gate results of every version of ``name``, oldest first; with ``max_results``,
    ``page_token`` or ``newest_first``, one page."""
    return _gate_results(ctx, name, None, (max_results, page_token, newest_first))


def _gate_results(
    ctx: Context, name: str, version: int | None, paging: tuple[int | None, str | None, bool]
) -> GateResultList:
    max_results, page_token, newest_first = paging
    store = ctx.metadata_store
    if is_paged(max_results, page_token, newest_first):
        page = store.page_gate_results(
            name, version, max_results=page_size(max_results), page_token=page_token,
            newest_first=newest_first,
        )  # fmt: skip
        return GateResultList.of(page)
    return GateResultList.of(store.list_gate_results(name, version))


@router.post("/models/{name}/versions/{version}/approvals", status_code=201)
def add_model_approval(
    name: str, version: int, body: ApprovalIn, ctx: Context, principal: Approver
) -> ModelApprovalOut:
    """Approve the version for promotion, with the caller as the approver."""
    approval = approve_version(ctx, principal, name, version, comment=body.comment)
    return model_approval_out(approval)


@router.get("/models/{name}/versions/{version}/approvals", dependencies=READ)
def list_version_approvals(name: str, version: int, ctx: Context) -> ModelApprovalList:
    """The version's approvals, oldest first."""
    return ModelApprovalList.of(ctx.metadata_store.list_model_approvals(name, version))


@router.get("/models/{name}/approvals", dependencies=READ)
def list_model_approvals(name: str, ctx: Context) -> ModelApprovalList:
    """The approvals of every version of ``name``, oldest first."""
    return ModelApprovalList.of(ctx.metadata_store.list_model_approvals(name))
