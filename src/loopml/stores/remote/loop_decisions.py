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
    TriggerKind,
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
from loopml.stores.remote.wire import JsonObject, WireFormatError

_TEXT = ("id", "key", "model", "alias")
_TIMES = ("created_at", "updated_at")
_OPTIONAL = (
    "champion_version",
    "pipeline_run_id",
    "candidate_version",
    "gate_result_id",
    "action",
    "error",
    "lease_token",
)


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
        found = self._api.request_json("GET", "/decisions/by-key", params=params).get("decision")
        if found is None:
            return None
        if not isinstance(found, dict):
            raise WireFormatError(
                f"The server sent a decision that is not an object: {found!r:.80}."
            )
        return decision_from_json(found)

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


def decision_from_json(data: JsonObject) -> Decision:
    try:
        trigger = TriggerKind(str(data.get("trigger")))
        state = DecisionState(str(data.get("state")))
    except ValueError:
        raise WireFormatError(
            f"The server sent a decision with trigger {data.get('trigger')!r:.40} and state "
            f"{data.get('state')!r:.40}; the client and the server are probably different "
            "loopml versions."
        ) from None
    evidence = data.get("evidence")
    if not isinstance(evidence, dict):
        raise WireFormatError(f"The server sent evidence that is not an object: {evidence!r:.80}.")
    values: dict[str, object] = {"trigger": trigger, "state": state, "evidence": evidence}
    for key in _TEXT:
        value = data.get(key)
        if not isinstance(value, str):
            raise WireFormatError(f"The server sent {key}={value!r:.40} for a decision.")
        values[key] = value
    for key in _TIMES:
        values[key] = wire.integer(data, key)
    for key in _OPTIONAL:
        value = data.get(key)
        if (value is not None and not isinstance(value, str | int)) or isinstance(value, bool):
            raise WireFormatError(f"The server sent {key}={value!r:.40} for a decision.")
        values[key] = value
    return Decision(**values)  # type: ignore[arg-type]
