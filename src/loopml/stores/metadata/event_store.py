"""The events slice of the metadata store: the audit log, a hash chain (see
:mod:`loopml.core.audit_chain`), and :class:`NewEvent`, the event every other slice's write
appends in its own transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from loopml.core.entities import Event, Page
from loopml.stores.metadata.pages import DEFAULT_MAX_RESULTS


@dataclass(frozen=True)
class NewEvent:
    """An event to append to the log in the same transaction as the change it records (the
    store numbers and times it): a crash cannot keep the change and lose its event, and a
    write that changes nothing (a retried create, a batch stored before) appends none.

    ``actor`` is the server's principal, never a name a client sent; ``request_id`` the
    server request that made the change. ``before``/``after`` are states of the target
    around the change (JSON values), recorded as digests; the store fills those it knows.
    A store write given no event appends its own, with the actor ``local:<os user>``."""

    actor: str
    action: str
    target: str
    payload: Mapping[str, object] = field(default_factory=dict)
    request_id: str = ""
    before: object = None
    after: object = None


class EventStore(Protocol):
    """The audit log: events appended and listed in order."""

    def append_event(
        self,
        *,
        actor: str,
        action: str,
        target: str,
        payload: Mapping[str, object],
        request_id: str = "",
    ) -> Event:
        """Append an event that records no change of this store (a client's note, a blob
        stored beside it) in a transaction of its own."""
        ...

    def list_events(
        self, *, max_results: int = DEFAULT_MAX_RESULTS, page_token: str | None = None
    ) -> Page[Event]:
        """Events in the order they were appended (by position, ``Event.seq``)."""
        ...
