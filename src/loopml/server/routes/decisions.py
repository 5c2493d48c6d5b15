"""The loop's decisions: record (idempotent by key), advance (a compare-and-set on the state,
optionally fenced by a lease), get, find by key, list. Recording and each move are audited;
a repeated call that changes nothing is not."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from loopml.server.audit import attributed
from loopml.server.auth import Principal, require
from loopml.server.context import Context
from loopml.server.decision_schemas import (
    DecisionAdvance,
    DecisionAnswer,
    DecisionCreate,
    DecisionOut,
    DecisionPage,
)
from loopml.server.routes.loop import _loop
from loopml.stores.loop.base import DEFAULT_MAX_RESULTS

router = APIRouter(tags=["loop"])
Writer = Annotated[Principal, Depends(require("decisions:write"))]
READ = [Depends(require("decisions:read"))]


@router.post("/decisions")
def record_decision(body: DecisionCreate, ctx: Context, principal: Writer) -> DecisionOut:
    """Store a triggered decision, or return the one stored under its key."""
    lease = None if body.lease is None else body.lease.to_lease()
    decision = _loop(ctx).record_decision(body.to_new(), lease=lease, event=attributed(principal))
    return DecisionOut.of(decision)


@router.get("/decisions", dependencies=READ)
def list_decisions(
    ctx: Context,
    model: str | None = None,
    state: Annotated[list[str] | None, Query()] = None,
    since: int | None = None,
    max_results: Annotated[int, Query()] = DEFAULT_MAX_RESULTS,
    page_token: str | None = None,
) -> DecisionPage:
    """Decisions, newest first; ``state`` may be given several times (any of them)."""
    page = _loop(ctx).list_decisions(
        model=model,
        states=tuple(state or ()),  # type: ignore[arg-type]  # checked by the store
        since=since,
        max_results=max_results,
        page_token=page_token,
    )
    return DecisionPage.of(page)


@router.get("/decisions/by-key", dependencies=READ)
def find_decision(key: str, ctx: Context) -> DecisionAnswer:
    found = _loop(ctx).find_decision(key)
    return DecisionAnswer(decision=None if found is None else DecisionOut.of(found))


@router.get("/decisions/{decision_id}", dependencies=READ)
def get_decision(decision_id: str, ctx: Context) -> DecisionOut:
    return DecisionOut.of(_loop(ctx).get_decision(decision_id))


@router.post("/decisions/{decision_id}/advance")
def advance_decision(
    decision_id: str, body: DecisionAdvance, ctx: Context, principal: Writer
) -> DecisionOut:
    """Move the decision from ``expected`` to ``state``; 409 (stale_decision) if it is no
    longer in ``expected``."""
    lease = None if body.lease is None else body.lease.to_lease()
    decision = _loop(ctx).advance_decision(
        decision_id, body.to_update(), lease=lease, event=attributed(principal)
    )
    return DecisionOut.of(decision)
