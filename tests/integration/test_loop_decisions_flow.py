"""The pieces the agent composes, on a real SQLite store: a trigger decided from a situation is
recorded once however often the same situation is decided and recorded (a restart opens a new
store), and the recorded decision, read back, stops the next tick from retraining again."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from loopml.core.ids import now_ms
from loopml.core.loop_records import DecisionState, DecisionUpdate
from loopml.loop.decide import Situation, Window, decide_retraining
from loopml.loop.policy import DriftTrigger, RetrainingPolicy
from loopml.stores.loop.sql import SqlLoopStore

HOUR = 3_600_000
POLICY = RetrainingPolicy(
    model="churn",
    alias="champion",
    pipeline="train-churn",
    source="loopml.yaml:4:5",
    dataset="churn-data",
    data_param="data",
    drift=DriftTrigger(HOUR, drift_share=0.3),
)


def _situation(store: SqlLoopStore, now: int) -> Situation:
    window = Window(now - HOUR, now, {"traffic": 500, "drift_share": 0.5})
    return Situation(
        now_ms=now,
        windows={HOUR: window},
        decisions=store.list_decisions(model="churn").items,
        newest_data_version=4,
    )


def test_one_situation_is_one_decision_across_restarts(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'loopml.db'}"
    now = now_ms()  # the store stamps decisions with its clock: the cooldown counts from it
    first = SqlLoopStore(uri)
    lease = first.acquire_lease("agent", "agent-a", HOUR)
    assert lease is not None
    trigger = decide_retraining(POLICY, _situation(first, now))
    assert trigger is not None
    decision = first.record_decision(trigger.new_decision(POLICY, 3), lease=lease)
    first.close()  # killed before it moved the decision on

    restarted = SqlLoopStore(uri)
    try:
        blind = replace(_situation(restarted, now), decisions=())  # before reading the store
        again = decide_retraining(POLICY, blind)
        assert again == trigger  # the same situation, the same key ...
        assert restarted.record_decision(again.new_decision(POLICY, 3), lease=lease) == decision
        assert decide_retraining(POLICY, _situation(restarted, now)) is None  # ... one open
        assert decide_retraining(POLICY, _situation(restarted, now + HOUR)) is None
        stored = restarted.get_decision(decision.id)
        assert stored.evidence == {**trigger.evidence} and stored.champion_version == 3
        assert stored.evidence["data_version"] == 4 and stored.lease_token == lease.token
        restarted.advance_decision(
            decision.id, DecisionUpdate(DecisionState.TRIGGERED, DecisionState.FAILED, error="x")
        )
        # settled, and the cooldown (1 h by default) counts from when it was recorded
        assert decide_retraining(POLICY, _situation(restarted, now + 2 * HOUR)) is not None
        assert len(restarted.list_decisions(model="churn")) == 1
    finally:
        restarted.close()
