"""The loop-decision routes on a real ``loopml server``: recording and each move are audited
once (a retried record or move changes nothing and records nothing), a stale move is a 409
with its own code, and a bad request gets the API's error body naming the field. The tests share
the module's server: each reads only the events recorded after it began."""

from __future__ import annotations

import httpx

from loopml.core.ids import new_id
from loopml.core.loop_records import DecisionState, DecisionUpdate, NewDecision, TriggerKind
from loopml.stores.remote.loop import HttpLoopStore
from loopml.stores.remote.metadata import HttpMetadataStore
from tests.fixtures.server import PlatformServer

S = DecisionState


def test_decisions_are_audited_once_per_change(shared_platform_server: PlatformServer) -> None:
    loop = HttpLoopStore(shared_platform_server.url)
    metadata = HttpMetadataStore(shared_platform_server.url)
    try:
        before = len(metadata.list_events(max_results=50_000).items)
        new = NewDecision(
            "retrain:churn@champion:drift:1", "churn", "champion", TriggerKind.DRIFT, {"d": 0.4}
        )
        decision = loop.record_decision(new)
        assert loop.record_decision(new) == decision  # the same situation again
        assert loop.find_decision(new.key) == decision
        assert loop.find_decision("retrain:churn@champion:drift:2") is None
        step = DecisionUpdate(S.TRIGGERED, S.TRAINING, pipeline_run_id=new_id())
        loop.advance_decision(decision.id, step)
        loop.advance_decision(decision.id, step)  # a retry after a lost answer
        events = metadata.list_events(max_results=50_000).items[before:]
    finally:
        loop.close()
        metadata.close()
    assert [(e.action, e.target) for e in events] == [
        ("decision.record", f"decision:{decision.id}"),
        ("decision.advance", f"decision:{decision.id}"),
    ]
    assert events[0].payload == {"key": new.key, "trigger": "drift", "model": "churn"}
    assert events[1].payload == {"from": "triggered", "to": "training", "action": None}


def test_bad_and_stale_decision_requests_answer_4xx(shared_platform_server: PlatformServer) -> None:
    loop = HttpLoopStore(shared_platform_server.url)
    try:
        decision = loop.record_decision(
            NewDecision(f"manual:churn:{new_id()}", "churn", "champion", TriggerKind.MANUAL, {})
        )
    finally:
        loop.close()
    with httpx.Client(base_url=f"{shared_platform_server.url}/api/v1") as http:
        typo = http.post(
            "/decisions",
            json={
                "key": "k",
                "model": "m",
                "alias": "a",
                "trigger": "drift",
                "evidence": {},
                "x": 1,
            },
        )
        whim = http.post(
            "/decisions",
            json={"key": "k2", "model": "m", "alias": "a", "trigger": "whim", "evidence": {}},
        )
        advance = f"/decisions/{decision.id}/advance"
        skip = http.post(advance, json={"expected": "triggered", "state": "promoted"})
        stale = http.post(advance, json={"expected": "trained", "state": "gated"})
        bad_state = http.get("/decisions", params={"state": "dreaming"})
    assert typo.status_code == 400 and "x" in typo.json()["error"]["message"]
    assert whim.status_code == 400
    assert "trigger must be one of drift" in whim.json()["error"]["message"]
    assert skip.status_code == 400 and "cannot move from triggered" in skip.text
    assert stale.status_code == 409
    assert stale.json()["error"]["code"] == "stale_decision"
    assert bad_state.status_code == 400 and "dreaming" in bad_state.text
