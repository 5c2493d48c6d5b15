"""The loop's states: small JSON documents the agent keeps between its ticks, by name (its
alert rules' cooldowns). Read and replaced whole; a write may be fenced by a lease. Not
audited: the agent writes them as often as it ticks."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, JsonValue

from loopml.server.audit import attributed
from loopml.server.auth import Principal, require
from loopml.server.context import Context
from loopml.server.decision_schemas import LeaseFence
from loopml.server.routes.loop import _loop

router = APIRouter(tags=["loop"])


class LoopStatePut(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")

    name: str
    document: dict[str, JsonValue]
    lease: LeaseFence | None = None


class LoopStateOut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    document: dict[str, JsonValue] | None


@router.get("/loop-states", dependencies=[Depends(require("decisions:read"))])
def get_loop_state(name: str, ctx: Context) -> LoopStateOut:
    """The document stored under ``name`` (``document`` is null when there is none)."""
    found: dict[str, Any] | None = _loop(ctx).get_loop_state(name)
    return LoopStateOut(name=name, document=found)


@router.put("/loop-states")
def put_loop_state(
    body: LoopStatePut,
    ctx: Context,
    principal: Annotated[Principal, Depends(require("decisions:write"))],
) -> LoopStateOut:
    """Replace the document stored under ``name``; 409 (lease_lost) for a deposed holder."""
    lease = None if body.lease is None else body.lease.to_lease()
    document = dict(body.document)
    _loop(ctx).put_loop_state(body.name, document, lease=lease, event=attributed(principal))
    return LoopStateOut(name=body.name, document=body.document)
