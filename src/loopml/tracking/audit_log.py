"""The audit log read back: filtered listings, export, verification and anchors, over any
metadata store (a SQL store is walked in one read; a remote one page by page).

>>> report = verify_log(client.metadata)  # doctest: +SKIP
>>> report.ok, report.head  # doctest: +SKIP
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from loopml.core.audit_chain import (
    Anchor,
    ChainEntry,
    ChainReport,
    canonical_json,
    verify_chain,
)
from loopml.core.entities import Event
from loopml.core.errors import InvalidInputError
from loopml.stores.metadata.event_store import EventStore, target_prefix
from loopml.stores.metadata.pages import MAX_RESULTS_LIMIT

_DURATION = re.compile(r"(\d+)([smhd])")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class EventFilter:
    """Which events a listing shows: appended at or after ``since`` (ms), by ``actor``, to
    ``target`` (exact, or every target under a prefix ending in ``:`` or ``*``). The store
    filters (:meth:`~loopml.stores.metadata.event_store.EventStore.list_events`);
    :meth:`matches` says the same of one event."""

    since: int | None = None
    actor: str | None = None
    target: str | None = None

    def matches(self, event: Event) -> bool:
        if self.since is not None and event.timestamp < self.since:
            return False
        if self.actor is not None and event.actor != self.actor:
            return False
        if self.target is not None:
            prefix = target_prefix(self.target)
            if prefix is not None:
                return event.target.startswith(prefix)
            return event.target == self.target
        return True


def parse_since(text: str, *, now_ms: int | None = None) -> int:
    """``--since``: a duration back from now (``30m``, ``24h``, ``7d``) or an ISO 8601 date
    or time (``2026-12-01``, ``2026-12-01T09:30:00+01:00``; UTC when no zone is given)."""
    found = _DURATION.fullmatch(text.strip())
    now = int(time.time() * 1000) if now_ms is None else now_ms
    if found is not None:
        return now - int(found.group(1)) * _SECONDS[found.group(2)] * 1000
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInputError(
            f"--since must be a duration (30m, 24h, 7d) or an ISO 8601 date or time "
            f"(2026-12-01, 2026-12-01T09:30:00Z), got {text!r}."
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def iter_events(store: EventStore, wanted: EventFilter | None = None) -> Iterator[Event]:
    """Every event (or every one ``wanted`` selects: the store filters) in position order, a
    page at a time."""
    where = wanted or EventFilter()
    token: str | None = None
    while True:
        page = store.list_events(
            max_results=MAX_RESULTS_LIMIT,
            page_token=token,
            since=where.since,
            actor=where.actor,
            target=where.target,
        )
        yield from page.items
        token = page.next_page_token
        if token is None:
            return


def select_events(store: EventStore, wanted: EventFilter) -> Iterator[Event]:
    """The events ``wanted`` selects, filtered by the store (in its database query; over a
    server, in the server's), in position order."""
    return iter_events(store, wanted)


def event_record(event: Event) -> dict[str, object]:
    """One event as a JSON object (a line of ``loopml audit export``)."""
    return {
        "seq": event.seq,
        "timestamp": event.timestamp,
        "actor": event.actor,
        "action": event.action,
        "target": event.target,
        "request_id": event.request_id,
        "before_digest": event.before_digest,
        "after_digest": event.after_digest,
        "payload": event.payload,
        "prev_hash": event.prev_hash,
        "hash": event.hash,
    }


def verify_log(store: EventStore, anchors: Iterable[Anchor] = ()) -> ChainReport:
    """Walk the whole chain (see :func:`loopml.core.audit_chain.verify_chain`): in the
    database's own query for a SQL store, else over the listed events."""
    direct = getattr(store, "verify_chain", None)
    if callable(direct):
        report: ChainReport = direct(anchors)
        return report
    return verify_chain((_entry_of(event) for event in iter_events(store)), anchors)


def _entry_of(event: Event) -> ChainEntry:
    return ChainEntry(
        event.seq,
        event.timestamp,
        event.actor,
        event.action,
        event.target,
        event.request_id,
        event.before_digest,
        event.after_digest,
        canonical_json(event.payload),
        event.prev_hash,
        event.hash,
    )
