"""Loop states over HTTP: the state half of :class:`~loopml.stores.remote.loop.HttpLoopStore`,
one call per primitive to :mod:`loopml.server.routes.loop_states`. A write replaces the
document whole, so it is sent again after a lost answer."""

from __future__ import annotations

from typing import Any

from loopml.core.loop_records import Lease, check_state_document, check_state_name
from loopml.stores.metadata.base import NewEvent
from loopml.stores.remote.http import ApiClient
from loopml.stores.remote.loop_decisions import fence
from loopml.stores.remote.wire import WireFormatError, refuse_event


class HttpStateRecords:
    """The state primitives of the loop store over the ``ApiClient`` of the class it is mixed
    into."""

    _api: ApiClient

    def get_loop_state(self, name: str) -> dict[str, Any] | None:
        params = {"name": check_state_name(name)}
        found = self._api.request_json("GET", "/loop-states", params=params).get("document")
        if found is not None and not isinstance(found, dict):
            raise WireFormatError(
                f"The server sent a loop state that is not an object: {found!r:.80}."
            )
        return found

    def put_loop_state(
        self,
        name: str,
        document: dict[str, Any],
        *,
        lease: Lease | None = None,
        event: NewEvent | None = None,
    ) -> None:
        refuse_event(event)
        body = {
            "name": check_state_name(name),
            "document": check_state_document(document),
            "lease": fence(lease),
        }
        self._api.request_json("PUT", "/loop-states", json_body=body, idempotent=True)
