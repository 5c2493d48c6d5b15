"""The loop store's records cross the wire through decoders derived from their dataclasses."""

from __future__ import annotations

import json

import pytest

from loopml.core.loop_records import (
    Decision,
    DecisionState,
    Deployment,
    DeploymentState,
    TriggerKind,
)
from loopml.stores.remote import wire
from loopml.stores.remote.loop import deployment_from_json
from loopml.stores.remote.loop_decisions import decision_from_json

DEPLOYMENT = Deployment(
    id="d1",
    model="churn",
    address="http://127.0.0.1:8080",
    heartbeat_ms=1000,
    alias="champion",
    version=None,
    run_id="r1",
    started_at=1,
    heartbeat_at=2,
    expires_at=3,
    ended_at=None,
    end_reason=None,
    state=DeploymentState.LIVE,
)
DECISION = Decision(
    id="x1",
    key="drift:churn:1",
    model="churn",
    alias="champion",
    trigger=TriggerKind.DRIFT,
    evidence={"signal": "drift_share", "value": 0.4, "rows": [1, 2]},
    state=DecisionState.GATED,
    created_at=5,
    updated_at=6,
    candidate_version=3,
    lease_token=7,
)


def test_a_deployment_and_a_decision_survive_the_wire() -> None:
    assert deployment_from_json(json.loads(json.dumps(DEPLOYMENT.to_dict()))) == DEPLOYMENT
    assert decision_from_json(json.loads(json.dumps(DECISION.to_dict()))) == DECISION


@pytest.mark.parametrize(
    ("field", "value"),
    [("state", "sleeping"), ("version", "3"), ("heartbeat_ms", True), ("alias", 5)],
)
def test_a_deployment_field_of_the_wrong_kind_is_named(field: str, value: object) -> None:
    data = {**DEPLOYMENT.to_dict(), field: value}
    with pytest.raises(wire.WireFormatError, match=repr(field)):
        deployment_from_json(data)


@pytest.mark.parametrize(
    ("field", "value"),
    [("trigger", "whim"), ("state", "done"), ("evidence", [1]), ("lease_token", "7")],
)
def test_a_decision_field_of_the_wrong_kind_is_named(field: str, value: object) -> None:
    data = {**DECISION.to_dict(), field: value}
    with pytest.raises(wire.WireFormatError, match=repr(field)):
        decision_from_json(data)


def test_a_decision_without_a_required_field_is_refused() -> None:
    data = DECISION.to_dict()
    del data["key"]
    with pytest.raises(wire.WireFormatError, match="'key'"):
        decision_from_json(data)
