"""Loop decisions over HTTP: the decision half of
:class:`~loopml.stores.remote.loop.HttpLoopStore`, one call per primitive to the routes of
:mod:`loopml.server.routes.decisions`.

Recording is idempotent by its key and a move that already happened is answered unchanged, so
both are sent again after a lost answer. Input is checked here as the sql store checks it, so
a bad decision is refused with the same message before it travels.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from loopml.core.entities import Page
from loopml.core.loop_records import (
    Decision,
    DecisionState,
    DecisionUpdate,
    Lease,
    NewDecision,
    check_decision_key,
    check_decision_update,
    check_new_decision,
    decision_not_found,
    is_record_id,
)
from loopml.stores.loop.base import DEFAULT_MAX_RESULTS
from loopml.stores.metadata.base import NewEvent
from loopml.stores.remote import wire
from loopml.stores.remote.http import ApiClient


class HttpDecisionRecords:
    """The decision primitives of the loop store over the ``ApiClient`` of the class it is
    mixed into."""

    _api: ApiClient

    def record_decision(
        self, decision: NewDecision, *, lease: Lease | None = None, event: NewEvent | None = None
    ) -> Decision:
        wire.refuse_event(event)
        new = check_new_decision(decision)
        body: dict[str, Any] = {
            "key": new.key,
            "model": new.model,
            "alias": new.alias,
            "trigger": str(new.trigger),
            "evidence": new.evidence,
            "champion_version": new.champion_version,
            "lease": fence(lease),
        }
        data = self._api.request_json("POST", "/decisions", json_body=body, idempotent=True)
        return decision_from_json(data)

    def advance_decision(
        self,
        decision_id: str,
        update: DecisionUpdate,
        *,
        lease: Lease | None = None,
        event: NewEvent | None = None,
    ) -> Decision:
        wire.refuse_event(event)
        checked = check_decision_update(update)
        body: dict[str, Any] = {
            "expected": str(checked.expected),
            "state": str(checked.state),
            "pipeline_run_id": checked.pipeline_run_id,
            "candidate_version": checked.candidate_version,
            "gate_result_id": checked.gate_result_id,
            "action": checked.action,
            "error": checked.error,
            "lease": fence(lease),
        }
        path = f"/decisions/{_id_segment(decision_id)}/advance"
        data = self._api.request_json("POST", path, json_body=body, idempotent=True)
        return decision_from_json(data)

    def get_decision(self, decision_id: str) -> Decision:
        data = self._api.request_json("GET", f"/decisions/{_id_segment(decision_id)}")
        return decision_from_json(data)

    def find_decision(self, key: str) -> Decision | None:
        params = {"key": check_decision_key(key)}
        data = self._api.request_json("GET", "/decisions/by-key", params=params)
        found = wire.optional_member(data, "decision")
        return None if found is None else decision_from_json(found)

    def list_decisions(
        self,
        *,
        model: str | None = None,
        states: tuple[DecisionState, ...] = (),
        since: int | None = None,
        max_results: int = DEFAULT_MAX_RESULTS,
        page_token: str | None = None,
    ) -> Page[Decision]:
        params: dict[str, Any] = {"max_results": max_results}
        if model is not None:
            params["model"] = model
        if states:
            params["state"] = [str(state) for state in states]
        if since is not None:
            params["since"] = since
        if page_token is not None:
            params["page_token"] = page_token
        data = self._api.request_json("GET", "/decisions", params=params)
        items = [decision_from_json(item) for item in wire.objects(data, "items")]
        return Page(items, wire.page_token(data))


def fence(lease: Lease | None) -> dict[str, object] | None:
    if lease is None:
        return None
    return {"name": lease.name, "holder": lease.holder, "token": lease.token}


def _id_segment(decision_id: str) -> str:
    if not is_record_id(decision_id):  # no decision has it: as the sql store answers
        raise decision_not_found(decision_id)
    return quote(decision_id, safe="")


decision_from_json = wire.EntityDecoder(Decision)
