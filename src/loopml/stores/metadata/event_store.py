"""The events slice of the metadata store: the audit log, a hash chain (see
:mod:`loopml.core.audit_chain`), and :class:`NewEvent`, the event every other slice's write
appends in its own transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from loopml.core.entities import Event, Page
from loopml.core.errors import InvalidInputError
from loopml.stores.metadata.pages import DEFAULT_MAX_RESULTS

_INT64 = range(-(2**63), 2**63)


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
        self,
        *,
        max_results: int = DEFAULT_MAX_RESULTS,
        page_token: str | None = None,
        since: int | None = None,
        actor: str | None = None,
        target: str | None = None,
        newest_first: bool = False,
    ) -> Page[Event]:
        """Events in the order they were appended (by position, ``Event.seq``), or the
        newest first with ``newest_first`` (the dashboard's audit page); only those
        appended at or after ``since`` (ms), by ``actor``, to ``target`` (exact, or every
        target under a prefix ending in ``:`` or ``*``, see :func:`target_prefix`) when given.
        Bad filters raise :class:`~loopml.core.errors.InvalidInputError`
        (:func:`check_event_filters`)."""
        ...


def target_prefix(target: str) -> str | None:
    """The prefix every target a ``target`` filter selects starts with (``model:`` and
    ``model:*`` select ``model:churn``), or None when it selects that one target only."""
    return target.rstrip("*") if target.endswith(("*", ":")) else None


def check_event_filters(since: object, actor: object, target: object) -> None:
    """The filters of :meth:`EventStore.list_events`, checked: a time in ms (a 64-bit
    integer), an actor of at most 250 characters, a target of at most 1000."""
    if since is not None and (
        not isinstance(since, int) or isinstance(since, bool) or since not in _INT64
    ):
        raise InvalidInputError(
            f"The events filter 'since' must be a time in milliseconds (a 64-bit integer), "
            f"got {since!r:.80}."
        )
    for what, value, limit in (("actor", actor, 250), ("target", target, 1000)):
        if value is not None and (not isinstance(value, str) or len(value) > limit):
            raise InvalidInputError(
                f"The events filter {what!r} must be a string of at most {limit} characters, "
                f"got {value!r:.80}."
            )
