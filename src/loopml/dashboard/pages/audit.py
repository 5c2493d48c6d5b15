"""The audit page (``/ui/audit``): the event log, newest first, a page at a time with the
store's page tokens, filtered by the store as ``loopml audit log`` filters it (``since``,
``actor``, ``target``), and a Verify button that walks the hash chain as ``loopml audit
verify`` does (the same :func:`~loopml.tracking.audit_log.verify_log`)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from loopml.core.audit_chain import ChainReport
from loopml.core.entities import Event
from loopml.core.errors import InvalidInputError
from loopml.dashboard.formatting import timestamp
from loopml.dashboard.sources import DashboardSources, Guarded
from loopml.dashboard.templating import page
from loopml.stores.metadata.base import MetadataStore
from loopml.tracking.audit_log import EventFilter, parse_since, verify_log

SLUGS = ("audit",)
DEFAULT_PER_PAGE = 50
MAX_PER_PAGE = 200
DETAILS_SHOWN = 240  # characters of an event's payload in its row


@dataclass(frozen=True)
class EventRow:
    seq: int
    time: str
    actor: str
    action: str
    target: str
    details: str


@dataclass(frozen=True)
class Verdict:
    """What Verify found, as the page says it."""

    ok: bool
    entries: int
    first_bad: int | None
    problem: str
    head: str


def add_routes(router: APIRouter, sources: DashboardSources, guarded: Guarded) -> None:
    router.add_api_route(
        "/audit",
        listing(sources.metadata),
        methods=["GET"],
        dependencies=guarded("events:read"),
        summary="The audit log, newest first, filtered and a page at a time (HTML).",
        response_class=HTMLResponse,
    )
    router.add_api_route(
        "/audit/verify",
        verification(sources.metadata),
        methods=["POST"],
        dependencies=guarded("events:read"),
        summary="Verify the audit log's hash chain, as 'loopml audit verify' does (HTML).",
        response_class=HTMLResponse,
    )


def listing(metadata: MetadataStore) -> Callable[..., HTMLResponse]:
    def dashboard_audit(
        request: Request,
        since: Annotated[
            str | None,
            Query(max_length=64, description="A duration back (24h, 7d) or a date (2026-12-01)."),
        ] = None,
        actor: Annotated[str | None, Query(max_length=250)] = None,
        target: Annotated[
            str | None, Query(max_length=1000, description="model:churn; 'model:' for every one.")
        ] = None,
        page_token: Annotated[
            str | None, Query(max_length=2000, description="The page's token (from 'Next').")
        ] = None,
        per_page: Annotated[int, Query(ge=1, le=MAX_PER_PAGE)] = DEFAULT_PER_PAGE,
    ) -> HTMLResponse:
        shown = {"since": since or None, "actor": actor or None, "target": target or None}
        wanted = EventFilter(_since(shown["since"]), shown["actor"], shown["target"])
        return _page(request, metadata, wanted, shown, page_token, per_page, None)

    return dashboard_audit


def verification(metadata: MetadataStore) -> Callable[..., HTMLResponse]:
    def dashboard_audit_verify(request: Request) -> HTMLResponse:
        verdict = _verdict(verify_log(metadata))
        if request.headers.get("HX-Request") == "true":  # htmx: the result in place
            return page(request, "audit_verify.html", "audit", {"verdict": verdict})
        empty: dict[str, str | None] = {"since": None, "actor": None, "target": None}
        return _page(request, metadata, EventFilter(), empty, None, DEFAULT_PER_PAGE, verdict)

    return dashboard_audit_verify


def _page(
    request: Request,
    metadata: MetadataStore,
    wanted: EventFilter,
    shown: dict[str, str | None],
    page_token: str | None,
    per_page: int,
    verdict: Verdict | None,
) -> HTMLResponse:
    events = metadata.list_events(
        max_results=per_page,
        page_token=page_token,
        since=wanted.since,
        actor=wanted.actor,
        target=wanted.target,
        newest_first=True,
    )
    here: dict[str, str | int | None] = {**shown, "per_page": per_page}
    next_token = events.next_page_token
    return page(
        request,
        "audit.html",
        "audit",
        {
            "filters": shown,
            "filtered": any(shown.values()),
            "rows": [_row(event) for event in events],
            "next_query": _query(here, page_token=next_token) if next_token else None,
            "first_query": _query(here) if page_token else None,
            "verdict": verdict,
        },
    )


def _since(text: str | None) -> int | None:
    """The ``since`` filter as ``loopml audit log --since`` reads it."""
    if text is None:
        return None
    try:
        return parse_since(text)
    except InvalidInputError:
        raise InvalidInputError(
            "'since' must be a duration (30m, 24h, 7d) or an ISO 8601 date or time "
            f"(2026-12-01, 2026-12-01T09:30:00Z), got {text!r}."
        ) from None


def _row(event: Event) -> EventRow:
    details = json.dumps(event.payload, sort_keys=True, ensure_ascii=False)
    if len(details) > DETAILS_SHOWN:
        details = details[: DETAILS_SHOWN - 1] + "…"
    return EventRow(
        seq=event.seq,
        time=timestamp(event.timestamp),
        actor=event.actor,
        action=event.action,
        target=event.target,
        details="" if details == "{}" else details,
    )


def _verdict(report: ChainReport) -> Verdict:
    return Verdict(
        ok=report.ok,
        entries=report.entries,
        first_bad=report.first_bad,
        problem=report.problem,
        head="" if report.head is None else str(report.head),
    )


def _query(values: dict[str, str | int | None], **more: str | None) -> str:
    return urlencode({k: v for k, v in {**values, **more}.items() if v is not None})
