"""The append-only event log: the audit slice of
:class:`~loopml.stores.metadata.sql.store.SqlMetadataStore`.
"""

from __future__ import annotations

from collections.abc import Mapping

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from loopml.core.entities import Event, Page
from loopml.core.errors import InvalidInputError
from loopml.core.ids import now_ms
from loopml.stores.metadata.base import DEFAULT_MAX_RESULTS, NewEvent
from loopml.stores.metadata.sql import paging
from loopml.stores.metadata.sql.connections import SqlStoreBase
from loopml.stores.metadata.sql.schema import events
from loopml.stores.metadata.sql.writes import validate_payload


class SqlEventStore(SqlStoreBase):
    """Events appended by every capability, read back in order, a page at a time."""

    # event log

    def append_event(
        self, *, actor: str, action: str, target: str, payload: Mapping[str, object]
    ) -> Event:
        event = check_event(NewEvent(actor, action, target, payload))
        with self._write() as conn:
            return insert_event(conn, event)

    def list_events(
        self, *, max_results: int = DEFAULT_MAX_RESULTS, page_token: str | None = None
    ) -> Page[Event]:
        limit = paging.check_max_results(max_results)
        after = paging.decode_token(page_token, "events")
        query = sa.select(events).where(events.c.id > after).order_by(events.c.id).limit(limit + 1)
        with self._read() as conn:
            rows = conn.execute(query).all()
        items = [
            Event(r.id, r.timestamp, r.actor, r.action, r.target, dict(r.payload))
            for r in rows[:limit]
        ]
        more = len(rows) > limit
        return Page(items, paging.encode_token("events", items[-1].id) if more else None)


def check_event(event: NewEvent) -> NewEvent:
    """``event`` checked (its payload a JSON object), before the transaction that appends it."""
    return NewEvent(
        actor=_text("actor", event.actor, 250, allow_empty=True),
        action=_text("action", event.action, 250),
        target=_text("target", event.target, 1000, allow_empty=True),
        payload=validate_payload(event.payload),
    )


def insert_event(conn: Connection, event: NewEvent) -> Event:
    """Append ``event`` (checked by :func:`check_event`) in the caller's transaction."""
    timestamp = now_ms()
    payload = dict(event.payload)
    event_id = conn.execute(
        _INSERT_EVENT,
        {
            "timestamp": timestamp,
            "actor": event.actor,
            "action": event.action,
            "target": event.target,
            "payload": payload,
        },
    ).scalar_one()
    return Event(event_id, timestamp, event.actor, event.action, event.target, payload)


_INSERT_EVENT = sa.insert(events).returning(events.c.id)


def _text(what: str, value: object, limit: int, *, allow_empty: bool = False) -> str:
    if not isinstance(value, str) or (not value and not allow_empty) or len(value) > limit:
        raise InvalidInputError(
            f"The event {what} must be a {'' if allow_empty else 'non-empty '}string of at most "
            f"{limit} characters, got {value!r:.80}."
        )
    return value
