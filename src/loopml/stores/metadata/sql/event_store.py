"""The append-only, hash-chained event log: the audit slice of
:class:`~loopml.stores.metadata.sql.store.SqlMetadataStore`.

Every mutation of the SQL stores appends its event with :func:`insert_event` in the change's
own transaction (a crash cannot keep one and lose the other). Appends are serialized so the
chain stays one line: on SQLite by the write lock every write transaction takes up front
(``BEGIN IMMEDIATE``), on PostgreSQL by a transaction-scoped advisory lock taken just before
the head is read. The event is the transaction's last statement, so no row lock is ever
waited for while that lock is held.
"""

from __future__ import annotations

import getpass
import json
import os
import re
from collections.abc import Iterable, Mapping

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from loopml.core import audit_chain
from loopml.core.audit_chain import Anchor, ChainReport
from loopml.core.entities import Event, Page
from loopml.core.errors import InvalidInputError
from loopml.core.ids import now_ms
from loopml.stores.metadata.base import DEFAULT_MAX_RESULTS, NewEvent
from loopml.stores.metadata.event_store import check_event_filters, target_prefix
from loopml.stores.metadata.sql import paging
from loopml.stores.metadata.sql.chain_reads import verify_stored_chain
from loopml.stores.metadata.sql.connections import SqlStoreBase
from loopml.stores.metadata.sql.schema import events
from loopml.stores.metadata.sql.writes import validate_payload

# any fixed 64-bit number (the migration lock is ...0001)
_PG_CHAIN_LOCK_KEY = 0x6C6F_6F70_6D6C_0002
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{0,64}")


def local_actor() -> str:
    """The actor of a change made without a server: ``local:<os user>``."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry and no LOGNAME/USER (some containers)
        user = f"uid{os.getuid()}" if hasattr(os, "getuid") else "unknown"
    return f"local:{user}"


class SqlEventStore(SqlStoreBase):
    """Events appended by every capability, read back in order, a page at a time."""

    def append_event(
        self,
        *,
        actor: str,
        action: str,
        target: str,
        payload: Mapping[str, object],
        request_id: str = "",
    ) -> Event:
        event = check_event(NewEvent(actor, action, target, payload, request_id))
        with self._write() as conn:
            return insert_event(conn, event)

    def list_events(
        self,
        *,
        max_results: int = DEFAULT_MAX_RESULTS,
        page_token: str | None = None,
        since: int | None = None,
        actor: str | None = None,
        target: str | None = None,
        newest_first: bool = False,
    ) -> Page[Event]:
        limit = paging.check_max_results(max_results)
        kind = "events-newest" if newest_first else "events"
        bound = paging.decode_token(page_token, kind)  # the last position listed, 0 for none
        check_event_filters(since, actor, target)
        where = _filters(since, actor, target)
        if newest_first:
            if bound:
                where.append(events.c.seq < bound)
            query = sa.select(events).where(*where).order_by(events.c.seq.desc())
        else:
            query = sa.select(events).where(events.c.seq > bound, *where).order_by(events.c.seq)
        with self._read() as conn:
            rows = conn.execute(query.limit(limit + 1)).all()
        items = [event_of_row(r) for r in rows[:limit]]
        more = len(rows) > limit
        return Page(items, paging.encode_token(kind, items[-1].seq) if more else None)

    def verify_chain(self, anchors: Iterable[Anchor] = ()) -> ChainReport:
        """:func:`~loopml.core.audit_chain.verify_chain` of the whole log, fast (see
        :mod:`~loopml.stores.metadata.sql.chain_reads`)."""
        return verify_stored_chain(self, anchors)


def _filters(
    since: int | None, actor: str | None, target: str | None
) -> list[sa.ColumnElement[bool]]:
    """The WHERE clauses of the filters given (no index serves them: a filtered listing
    still scans the log, but in the database, sending only the events that match)."""
    where: list[sa.ColumnElement[bool]] = []
    if since is not None:
        where.append(events.c.timestamp >= since)
    if actor is not None:
        where.append(events.c.actor == actor)
    if target is not None:
        prefix = target_prefix(target)
        if prefix is None:
            where.append(events.c.target == target)
        elif prefix:  # substr, not LIKE: SQLite's LIKE ignores case, and '%' and '_' are wild
            where.append(sa.func.substr(events.c.target, 1, len(prefix)) == prefix)
    return where


def event_of_row(row: sa.Row[object]) -> Event:
    r = row._mapping
    return Event(
        r["id"],
        r["timestamp"],
        r["actor"],
        r["action"],
        r["target"],
        _payload(r["payload"]),
        seq=r["seq"],
        request_id=r["request_id"],
        before_digest=r["before_digest"],
        after_digest=r["after_digest"],
        prev_hash=r["prev_hash"],
        hash=r["hash"],
    )


def _payload(text: object) -> dict[str, object]:
    value = json.loads(str(text))
    return value if isinstance(value, dict) else {"value": value}


def check_event(event: NewEvent) -> NewEvent:
    """``event`` checked (its payload a JSON object), before the transaction that appends it."""
    if not isinstance(event.request_id, str) or not _REQUEST_ID.fullmatch(event.request_id):
        raise InvalidInputError(
            f"The event request id must be at most 64 letters, digits, '.', '_', ':' or '-', "
            f"got {event.request_id!r:.80}."
        )
    return NewEvent(
        actor=_text("actor", event.actor, 250, allow_empty=True),
        action=_text("action", event.action, 250),
        target=_text("target", event.target, 1000, allow_empty=True),
        payload=validate_payload(event.payload),
        request_id=event.request_id,
        before=event.before,
        after=event.after,
    )


def audited(
    given: NewEvent | None,
    action: str,
    target: str,
    payload: Mapping[str, object],
    *,
    before: object = None,
    after: object = None,
) -> NewEvent:
    """The event a store write appends, described by the store (``action``, ``target``,
    ``payload``, the states ``before``/``after`` the change) and attributed by the caller:
    ``given``'s actor and request id (a server's principal), or ``local:<os user>`` when
    none is given (embedded use). A ``given`` event with an action describes the change
    itself (its target and payload replace the store's)."""
    if given is None:
        return NewEvent(local_actor(), action, target, payload, before=before, after=after)
    if given.action:
        action, target, payload = given.action, given.target, given.payload
    return NewEvent(
        given.actor,
        action,
        target,
        payload,
        request_id=given.request_id,
        before=given.before if given.before is not None else before,
        after=given.after if given.after is not None else after,
    )


def insert_event(conn: Connection, event: NewEvent) -> Event:
    """Append ``event`` to the chain in the caller's transaction (a bad event raises, which
    rolls the change back too); call it last in that transaction (see the module's
    docstring)."""
    event = check_event(event)
    if conn.dialect.name == "postgresql":
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_PG_CHAIN_LOCK_KEY)))
    head = conn.execute(_HEAD).first()
    seq, prev_hash = (1, audit_chain.GENESIS) if head is None else (head.seq + 1, head.hash)
    timestamp = now_ms()
    payload = dict(event.payload)
    payload_json = audit_chain.canonical_json(payload)
    before = "" if event.before is None else audit_chain.digest_of(event.before)
    after = audit_chain.digest_of(payload if event.after is None else event.after)
    text = audit_chain.entry_text(
        seq,
        timestamp,
        event.actor,
        event.action,
        event.target,
        event.request_id,
        before,
        after,
        payload_json,
    )
    digest = audit_chain.chain_hash(prev_hash, text)
    event_id = conn.execute(
        _INSERT_EVENT,
        {
            "timestamp": timestamp,
            "actor": event.actor,
            "action": event.action,
            "target": event.target,
            "payload": payload_json,
            "seq": seq,
            "request_id": event.request_id,
            "before_digest": before,
            "after_digest": after,
            "prev_hash": prev_hash,
            "hash": digest,
        },
    ).scalar_one()
    return Event(
        event_id,
        timestamp,
        event.actor,
        event.action,
        event.target,
        payload,
        seq=seq,
        request_id=event.request_id,
        before_digest=before,
        after_digest=after,
        prev_hash=prev_hash,
        hash=digest,
    )


_HEAD = sa.select(events.c.seq, events.c.hash).order_by(events.c.seq.desc()).limit(1)
_INSERT_EVENT = sa.insert(events).returning(events.c.id)


def _text(what: str, value: object, limit: int, *, allow_empty: bool = False) -> str:
    if not isinstance(value, str) or (not value and not allow_empty) or len(value) > limit:
        raise InvalidInputError(
            f"The event {what} must be a {'' if allow_empty else 'non-empty '}string of at most "
            f"{limit} characters, got {value!r:.80}."
        )
    return value
