"""The remote store reads every metadata entity back through a decoder derived from the
entity's dataclass (:class:`loopml.stores.remote.wire.EntityDecoder`): what the server sends
for an entity comes back equal, NaN metrics included, and a malformed answer is a
``WireFormatError`` naming the field."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from loopml.core.entities import (
    AliasChange,
    Event,
    Experiment,
    GateResult,
    Metric,
    ModelVersion,
    RegisteredModel,
    Run,
    RunStatus,
)
from loopml.stores.remote import wire


def _over_the_wire(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` as a client receives it: through JSON, non-finite floats as strings."""
    text = json.dumps(data, allow_nan=False, default=list)
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def test_a_run_with_collections_and_a_nan_metric_comes_back_equal() -> None:
    run = Run(
        id="r1",
        experiment_id="e1",
        name="train",
        status=RunStatus.FINISHED,
        start_time=1,
        end_time=2,
        params={"lr": "0.1"},
        metrics={"auc": 0.9, "loss": math.nan},
        tags={"team": "fraud"},
        heartbeat_at=2,
    )
    sent = _over_the_wire(
        {
            "id": "r1",
            "experiment_id": "e1",
            "name": "train",
            "status": "FINISHED",
            "start_time": 1,
            "end_time": 2,
            "parent_run_id": None,
            "params": {"lr": "0.1"},
            "metrics": {"auc": 0.9, "loss": "NaN"},
            "tags": {"team": "fraud"},
            "heartbeat_at": 2,
        }
    )
    back = wire.run_from_json(sent)
    assert math.isnan(back.metrics["loss"])
    assert back.status is RunStatus.FINISHED
    assert {**back.metrics, "loss": 0} == {**run.metrics, "loss": 0}
    assert back.params == run.params and back.tags == run.tags and back.end_time == 2


def test_registry_entities_come_back_equal() -> None:
    version = ModelVersion(
        "m",
        3,
        "sklearn",
        "blake3:" + "a" * 64,
        5,
        run_id="r",
        signature={"inputs": [1]},
        metrics={"acc": 0.5},
        datasets=("iris@1",),
        requirements=("numpy",),
        tags={"k": "v"},
    )
    assert wire.model_version_from_json(_over_the_wire(wire.model_version_json(version))) == version
    result = GateResult(
        "0" * 32,
        "m",
        3,
        True,
        ({"check": "metric", "passed": True},),
        {"metrics": {}},
        "sha256:" + "b" * 64,
        7,
        against=2,
    )
    assert wire.gate_result_from_json(_over_the_wire(wire.gate_result_json(result))) == result
    model = RegisteredModel("m", 1, 2, latest_version=3, aliases={"champion": 3})
    sent = {
        "name": "m",
        "created_at": 1,
        "updated_at": 2,
        "description": "",
        "latest_version": 3,
        "aliases": {"champion": 3},
    }
    assert wire.registered_model_from_json(sent) == model
    change = AliasChange("m", "champion", None, 3, 9, actor="ana", reason="why")
    assert wire.alias_change_from_json(_over_the_wire(wire.entity_json(change))) == change


def test_flat_and_event_entities_come_back_equal() -> None:
    experiment = Experiment("e", "exp", 1, {"team": "fraud"})
    assert wire.experiment_from_json(_over_the_wire(wire.entity_json(experiment))) == experiment
    metric = Metric("m", math.inf, 1, 2)
    assert wire.metric_from_json(_over_the_wire(wire.entity_json(metric))) == metric
    event = Event(1, 2, "ana", "run.create", "run:r", {"n": [1, {"x": None}]}, seq=4, hash="h")
    assert wire.event_from_json(_over_the_wire(wire.entity_json(event))) == event
    older = {"id": 1, "timestamp": 2, "actor": "ana", "action": "a", "target": "t"}
    assert wire.event_from_json(older) == Event(1, 2, "ana", "a", "t")  # an older server


@pytest.mark.parametrize(
    ("decode", "data", "field"),
    [
        (wire.run_from_json, {"metrics": {"auc": "high"}}, "metrics"),
        (wire.run_from_json, {"params": ["lr"]}, "params"),
        (wire.run_from_json, {"start_time": True}, "start_time"),
        (wire.model_version_from_json, {"datasets": "iris@1"}, "datasets"),
        (wire.registered_model_from_json, {"aliases": {"champion": "3"}}, "aliases"),
        (wire.event_from_json, {"payload": [1]}, "payload"),
    ],
)
def test_a_malformed_answer_names_the_field(
    decode: Any, data: dict[str, object], field: str
) -> None:
    base: dict[str, object] = {
        "id": "r",
        "experiment_id": "e",
        "name": "n",
        "status": "RUNNING",
        "start_time": 1,
        "end_time": None,
        "model": "m",
        "version": 1,
        "flavor": "f",
        "tree_digest": "d",
        "created_at": 1,
        "updated_at": 1,
        "timestamp": 1,
        "actor": "a",
        "action": "a",
        "target": "t",
    }
    if decode is wire.event_from_json:
        base["id"] = 1
    with pytest.raises(wire.WireFormatError, match=repr(field)):
        decode({**base, **data})


def test_a_missing_required_field_is_named() -> None:
    with pytest.raises(wire.WireFormatError, match="Run without its 'status' field"):
        wire.run_from_json({"id": "r", "experiment_id": "e", "name": "n", "start_time": 1})
