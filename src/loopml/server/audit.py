"""The one way a server mutation is recorded: an event in the metadata store's log."""

from __future__ import annotations

from collections.abc import Mapping

from loopml.core.entities import Event
from loopml.server.auth import Principal
from loopml.server.context import ServerContext


def record_event(
    ctx: ServerContext,
    principal: Principal,
    action: str,
    target: str,
    payload: Mapping[str, object],
) -> Event:
    """Append ``principal`` did ``action`` (``"run.create"``) to ``target`` (``"run:<id>"``).

    Called by every mutation route after the change succeeded; the audit trail hashes and
    verifies these events later.
    """
    return ctx.metadata_store.append_event(
        actor=principal.name, action=action, target=target, payload=dict(payload)
    )
