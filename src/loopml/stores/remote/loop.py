"""The loop store over HTTP: each :class:`~loopml.stores.loop.base.LoopStore` primitive is one
call to the ``loopml server`` routes of :mod:`loopml.server.routes.loop`.

Registering carries the caller's id and ending is idempotent, so both are sent again after a
lost answer; acquiring a lease is not (a second acquisition could look like someone else's).
"""

from __future__ import annotations

from urllib.parse import quote

from loopml.core.entities import Page
from loopml.core.loop_records import (
    Deployment,
    DeploymentState,
    Lease,
    NewDeployment,
    check_lease_name,
    deployment_not_found,
    is_record_id,
)
from loopml.stores.loop.base import DEFAULT_MAX_RESULTS
from loopml.stores.metadata.base import NewEvent
from loopml.stores.remote import wire
from loopml.stores.remote.http import ApiClient
from loopml.stores.remote.loop_decisions import HttpDecisionRecords
from loopml.stores.remote.loop_states import HttpStateRecords
from loopml.stores.remote.wire import JsonObject


class HttpLoopStore(HttpDecisionRecords, HttpStateRecords):
    """:class:`~loopml.stores.loop.base.LoopStore` on ``http(s)://host:port``."""

    def __init__(self, uri: str, *, token: str | None = None) -> None:
        self._api = ApiClient(uri, token=token)

    def __repr__(self) -> str:
        return f"HttpLoopStore({self._api.base_url!r})"

    def close(self) -> None:
        self._api.close()

    # deployments -------------------------------------------------------------------------

    def register_deployment(
        self, deployment: NewDeployment, *, event: NewEvent | None = None
    ) -> Deployment:
        wire.refuse_event(event)
        body = wire.entity_json(deployment)
        data = self._api.request_json("POST", "/deployments", json_body=body, idempotent=True)
        return deployment_from_json(data)

    def heartbeat_deployment(self, deployment_id: str, *, version: int | None = None) -> Deployment:
        path = f"/deployments/{_id_segment(deployment_id)}/heartbeat"
        data = self._api.request_json("PUT", path, json_body={"version": version})
        return deployment_from_json(data)

    def end_deployment(
        self, deployment_id: str, reason: str, *, event: NewEvent | None = None
    ) -> Deployment:
        wire.refuse_event(event)
        path = f"/deployments/{_id_segment(deployment_id)}/end"
        data = self._api.request_json("POST", path, json_body={"reason": reason}, idempotent=True)
        return deployment_from_json(data)

    def get_deployment(self, deployment_id: str) -> Deployment:
        data = self._api.request_json("GET", f"/deployments/{_id_segment(deployment_id)}")
        return deployment_from_json(data)

    def list_deployments(
        self,
        *,
        model: str | None = None,
        state: DeploymentState | None = None,
        max_results: int = DEFAULT_MAX_RESULTS,
        page_token: str | None = None,
    ) -> Page[Deployment]:
        params: dict[str, str | int] = {"max_results": max_results}
        if model is not None:
            params["model"] = model
        if state is not None:
            params["state"] = str(state)
        if page_token is not None:
            params["page_token"] = page_token
        data = self._api.request_json("GET", "/deployments", params=params)
        items = [deployment_from_json(item) for item in wire.objects(data, "items")]
        return Page(items, wire.page_token(data))

    def mark_gone_deployments(self, *, event: NewEvent | None = None) -> list[Deployment]:
        wire.refuse_event(event)
        data = self._api.request_json("POST", "/deployments/mark-gone")
        return [deployment_from_json(item) for item in wire.objects(data, "items")]

    # leases ------------------------------------------------------------------------------

    def acquire_lease(
        self, name: str, holder: str, ttl_ms: int, *, event: NewEvent | None = None
    ) -> Lease | None:
        wire.refuse_event(event)
        body = {"holder": holder, "ttl_ms": ttl_ms}
        data = self._api.request_json("POST", f"{_lease_path(name)}/acquire", json_body=body)
        return _optional_lease(data)

    def renew_lease(self, lease: Lease, ttl_ms: int) -> Lease:
        body = {"holder": lease.holder, "token": lease.token, "ttl_ms": ttl_ms}
        data = self._api.request_json(
            "POST", f"{_lease_path(lease.name)}/renew", json_body=body, idempotent=True
        )
        return lease_from_json(data)

    def release_lease(self, lease: Lease, *, event: NewEvent | None = None) -> None:
        wire.refuse_event(event)
        body = {"holder": lease.holder, "token": lease.token}
        self._api.request(
            "POST", f"{_lease_path(lease.name)}/release", json_body=body, idempotent=True
        )

    def get_lease(self, name: str) -> Lease | None:
        return _optional_lease(self._api.request_json("GET", _lease_path(name)))


def _id_segment(deployment_id: str) -> str:
    if not is_record_id(deployment_id):  # no server holds it: as the sql store answers
        raise deployment_not_found(deployment_id)
    return quote(deployment_id, safe="")


def _optional_lease(data: JsonObject) -> Lease | None:
    found = wire.optional_member(data, "lease")
    return None if found is None else lease_from_json(found)


def _lease_path(name: str) -> str:
    return f"/leases/{quote(check_lease_name(name), safe='')}"


lease_from_json = wire.EntityDecoder(Lease)
deployment_from_json = wire.EntityDecoder(Deployment)
