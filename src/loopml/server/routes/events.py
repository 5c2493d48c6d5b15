"""The event log: every recorded mutation, in the order it was appended."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from loopml.server.auth import Principal, require
from loopml.server.context import Context
from loopml.server.request_ids import current_request_id
from loopml.server.schemas import EventIn, EventOut, EventPage
from loopml.stores.metadata.base import DEFAULT_MAX_RESULTS

router = APIRouter(tags=["events"])


@router.get("/events", dependencies=[Depends(require("events:read"))])
def list_events(
    ctx: Context,
    max_results: int = DEFAULT_MAX_RESULTS,
    page_token: str | None = None,
    since: int | None = None,
    actor: Annotated[str | None, Query(max_length=250)] = None,
    target: Annotated[str | None, Query(max_length=1000)] = None,
    newest_first: bool = False,
) -> EventPage:
    """Events in append order (the newest first with ``newest_first``); only those at or
    after ``since`` (ms), by ``actor``, to ``target`` (``model:`` or ``model:*``: every
    target under that prefix) when given."""
    page = ctx.metadata_store.list_events(
        max_results=max_results,
        page_token=page_token,
        since=since,
        actor=actor,
        target=target,
        newest_first=newest_first,
    )
    return EventPage.of(page)


@router.post("/events", status_code=201)
def append_event(
    body: EventIn,
    ctx: Context,
    principal: Annotated[Principal, Depends(require("events:write"))],
) -> EventOut:
    """Append an event a client recorded itself (this request is its own audit record). The
    actor is the caller the server authenticated; a different ``actor`` the client names is
    kept in the payload as ``claimed_actor``, never as the actor."""
    payload = dict(body.payload)
    if body.actor != principal.name:
        payload["claimed_actor"] = body.actor
    event = ctx.metadata_store.append_event(
        actor=principal.name,
        action=body.action,
        target=body.target,
        payload=payload,
        request_id=current_request_id(),
    )
    return EventOut.of(event)
