"""The one way a server mutation is recorded: an event handed to the store write that makes
the change, appended to the hash-chained audit log in the change's transaction (and not at
all when the change was a retry already stored).

The actor is the authenticated principal (:class:`~loopml.server.auth.Principal`), never a
name the client sent; the request id is the one :mod:`loopml.server.request_ids` gave the
request. :func:`attributed` lets the store describe the change itself (what it did, to
what, the state before and after); :func:`event` describes it here.
"""

from __future__ import annotations

from collections.abc import Mapping

from loopml.core.entities import Run
from loopml.server.auth import Principal
from loopml.server.request_ids import current_request_id
from loopml.stores.metadata.base import NewEvent


def attributed(principal: Principal) -> NewEvent:
    """The event of a change the store describes, made by ``principal`` in this request."""
    return NewEvent(actor=principal.name, action="", target="", request_id=current_request_id())


def event(
    principal: Principal, action: str, target: str, payload: Mapping[str, object]
) -> NewEvent:
    """``principal`` did ``action`` (``"run.create"``) to ``target`` (``"run:<id>"``), to be
    appended in the same transaction as the change."""
    return NewEvent(
        actor=principal.name,
        action=action,
        target=target,
        payload=dict(payload),
        request_id=current_request_id(),
    )


def lapsed_run(actor: str, run: Run) -> NewEvent:
    """The event of ``run`` ended because its heartbeat lapsed (by a caller, or the reaper)."""
    payload = {"status": str(run.status), "end_time": run.end_time, "reason": "lapsed"}
    return NewEvent(actor, "run.set_status", f"run:{run.id}", payload, current_request_id())
