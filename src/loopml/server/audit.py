"""The one way a server mutation is recorded: an event in the metadata store's log.

A route hands the store the event with the change (:func:`event`: the store appends it in the
change's transaction, and not at all when the change was a retry already stored); routes whose
store write cannot take an event yet append it after the change (:func:`record_event`).
"""

from __future__ import annotations

from collections.abc import Mapping

from loopml.core.entities import Event, Run
from loopml.server.auth import Principal
from loopml.server.context import ServerContext
from loopml.stores.metadata.base import NewEvent


def event(
    principal: Principal, action: str, target: str, payload: Mapping[str, object]
) -> NewEvent:
    """``principal`` did ``action`` (``"run.create"``) to ``target`` (``"run:<id>"``), to be
    appended in the same transaction as the change."""
    return NewEvent(actor=principal.name, action=action, target=target, payload=dict(payload))


def lapsed_run(actor: str, run: Run) -> NewEvent:
    """The event of ``run`` ended because its heartbeat lapsed (by a caller, or the reaper)."""
    payload = {"status": str(run.status), "end_time": run.end_time, "reason": "lapsed"}
    return NewEvent(actor, "run.set_status", f"run:{run.id}", payload)


def record_event(
    ctx: ServerContext,
    principal: Principal,
    action: str,
    target: str,
    payload: Mapping[str, object],
) -> Event:
    """Append ``principal`` did ``action`` (``"run.create"``) to ``target`` (``"run:<id>"``).

    Called after the change succeeded by the routes whose store write takes no event yet
    (a crash between the two loses the event); the audit trail hashes and verifies these
    events later.
    """
    return ctx.metadata_store.append_event(
        actor=principal.name, action=action, target=target, payload=dict(payload)
    )
