"""The event log: every recorded mutation, in the order it was appended."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from loopml.server.auth import require
from loopml.server.context import Context
from loopml.server.schemas import EventIn, EventOut, EventPage
from loopml.stores.metadata.base import DEFAULT_MAX_RESULTS

router = APIRouter(tags=["events"])


@router.get("/events", dependencies=[Depends(require("events:read"))])
def list_events(
    ctx: Context, max_results: int = DEFAULT_MAX_RESULTS, page_token: str | None = None
) -> EventPage:
    page = ctx.metadata_store.list_events(max_results=max_results, page_token=page_token)
    return EventPage.of(page)


@router.post("/events", status_code=201, dependencies=[Depends(require("events:write"))])
def append_event(body: EventIn, ctx: Context) -> EventOut:
    """Append an event a client recorded itself (this request is its own audit record)."""
    event = ctx.metadata_store.append_event(
        actor=body.actor, action=body.action, target=body.target, payload=body.payload
    )
    return EventOut.of(event)
