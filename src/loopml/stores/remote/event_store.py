"""The events slice of the remote metadata store: the audit log over ``/events``."""

from __future__ import annotations

from collections.abc import Mapping

from loopml.core.entities import Event, Page
from loopml.stores.metadata.event_store import check_event_filters
from loopml.stores.metadata.pages import DEFAULT_MAX_RESULTS
from loopml.stores.remote import wire
from loopml.stores.remote.http_slice import HttpSlice, page_params


class HttpEventStore(HttpSlice):
    """The audit log: events appended as a client's notes, listed in order."""

    def append_event(
        self,
        *,
        actor: str,
        action: str,
        target: str,
        payload: Mapping[str, object],
        request_id: str = "",
    ) -> Event:
        """As the embedded store; the server records its authenticated caller as the actor
        (``actor`` is kept as a claim) and names the request itself (``request_id`` unused)."""
        del request_id
        body = {"actor": actor, "action": action, "target": target, "payload": dict(payload)}
        return wire.event_from_json(self._api.request_json("POST", "/events", json_body=body))

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
        """As the embedded store: the server filters (the filters are checked here first)."""
        check_event_filters(since, actor, target)
        filters = {"since": since, "actor": actor, "target": target}
        if newest_first:
            filters["newest_first"] = "true"
        params = {**page_params(max_results, page_token)}
        params.update({name: value for name, value in filters.items() if value is not None})
        data = self._api.request_json("GET", "/events", params=params)
        items = [wire.event_from_json(item) for item in wire.objects(data, "items")]
        return Page(items, wire.page_token(data))
