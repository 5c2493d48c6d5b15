"""The loop store: deployments (register, heartbeat, end, get, list, mark gone) and leases
(acquire, renew, release, get). Heartbeats and renewals only move times: not audited."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from loopml.core.errors import ConfigError, NotFoundError
from loopml.core.loop_records import Deployment, DeploymentState, Lease
from loopml.server.audit import attributed
from loopml.server.auth import Principal, require
from loopml.server.context import Context, ServerContext
from loopml.server.loop_schemas import (
    DeploymentCreate,
    DeploymentEnd,
    DeploymentHeartbeat,
    DeploymentList,
    DeploymentOut,
    DeploymentPage,
    LeaseAcquire,
    LeaseAnswer,
    LeaseHeld,
    LeaseOut,
    LeaseRenew,
)
from loopml.stores.loop.base import DEFAULT_MAX_RESULTS, LoopStore

router = APIRouter(tags=["loop"])
Writer = Annotated[Principal, Depends(require("deployments:write"))]
LeaseWriter = Annotated[Principal, Depends(require("leases:write"))]
READ = [Depends(require("deployments:read"))]
WRITE = [Depends(require("deployments:write"))]
LEASE_READ = [Depends(require("leases:read"))]
LEASE_WRITE = [Depends(require("leases:write"))]


def _loop(ctx: ServerContext) -> LoopStore:
    if ctx.loop_store is None:
        raise ConfigError(
            "This server was started without a loop store (deployments, leases); start it "
            "with 'loopml server'."
        )
    return ctx.loop_store


def _lookup(loop: LoopStore, deployment_id: str) -> list[Deployment]:
    """The deployment as stored now, or nothing (for deciding whether a call changes it)."""
    try:
        return [loop.get_deployment(deployment_id)]
    except NotFoundError:
        return []


@router.post("/deployments", status_code=201)
def register_deployment(body: DeploymentCreate, ctx: Context, principal: Writer) -> DeploymentOut:
    """Idempotent by the caller's id: a retry returns the stored record (and is not audited
    again)."""
    deployment = _loop(ctx).register_deployment(body.to_new(), event=attributed(principal))
    return DeploymentOut.of(deployment)


@router.get("/deployments", dependencies=READ)
def list_deployments(
    ctx: Context,
    model: str | None = None,
    state: DeploymentState | None = None,
    max_results: Annotated[int, Query()] = DEFAULT_MAX_RESULTS,
    page_token: str | None = None,
) -> DeploymentPage:
    """Deployments, newest first; ``state`` is live, ended or gone."""
    page = _loop(ctx).list_deployments(
        model=model, state=state, max_results=max_results, page_token=page_token
    )
    return DeploymentPage.of(page)


@router.post("/deployments/mark-gone")
def mark_gone_deployments(ctx: Context, principal: Writer) -> DeploymentList:
    """Mark gone the live deployments whose heartbeat lapsed; returns them."""
    gone = _loop(ctx).mark_gone_deployments(event=attributed(principal))
    return DeploymentList(items=[DeploymentOut.of(d) for d in gone])


@router.get("/deployments/{deployment_id}", dependencies=READ)
def get_deployment(deployment_id: str, ctx: Context) -> DeploymentOut:
    return DeploymentOut.of(_loop(ctx).get_deployment(deployment_id))


@router.put("/deployments/{deployment_id}/heartbeat", dependencies=WRITE)
def heartbeat_deployment(
    deployment_id: str, body: DeploymentHeartbeat, ctx: Context
) -> DeploymentOut:
    return DeploymentOut.of(_loop(ctx).heartbeat_deployment(deployment_id, version=body.version))


@router.post("/deployments/{deployment_id}/end")
def end_deployment(
    deployment_id: str, body: DeploymentEnd, ctx: Context, principal: Writer
) -> DeploymentOut:
    deployment = _loop(ctx).end_deployment(deployment_id, body.reason, event=attributed(principal))
    return DeploymentOut.of(deployment)


@router.post("/leases/{name}/acquire")
def acquire_lease(
    name: str, body: LeaseAcquire, ctx: Context, principal: LeaseWriter
) -> LeaseAnswer:
    lease = _loop(ctx).acquire_lease(name, body.holder, body.ttl_ms, event=attributed(principal))
    return LeaseAnswer.of(lease)


@router.post("/leases/{name}/renew", dependencies=LEASE_WRITE)
def renew_lease(name: str, body: LeaseRenew, ctx: Context) -> LeaseOut:
    lease = Lease(name, body.holder, body.token, 0, 0)
    return LeaseOut.of(_loop(ctx).renew_lease(lease, body.ttl_ms))


@router.post("/leases/{name}/release", status_code=204)
def release_lease(name: str, body: LeaseHeld, ctx: Context, principal: LeaseWriter) -> Response:
    lease = Lease(name, body.holder, body.token, 0, 0)
    _loop(ctx).release_lease(lease, event=attributed(principal))
    return Response(status_code=204)


@router.get("/leases/{name}", dependencies=LEASE_READ)
def get_lease(name: str, ctx: Context) -> LeaseAnswer:
    return LeaseAnswer.of(_loop(ctx).get_lease(name))
