"""Decisions the agent carries on, on a real SQLite project: a training that fails (the
agent's real training process) ends ``failed`` with the step's error, nothing is promoted, and
the cooldown keeps the next tick from running the broken pipeline again; a decision a crash
left ``trained`` is gated, held for approval and promoted once approved."""

from __future__ import annotations

from pathlib import Path

import loopml
from loopml.core.config import init_project
from loopml.core.loop_records import DecisionState, DecisionUpdate, NewDecision, TriggerKind
from loopml.loop.agent_tick import tick_once
from loopml.loop.agent_training import DECISION_TAG
from loopml.models.promotion import approve
from loopml.tracking.client import Client
from tests.fixtures.agent_project import PROJECT, seed_champion, write_agent_project

S = DecisionState

BROKEN = """\
import loopml


@loopml.step
def train(data: str) -> int:
    raise RuntimeError(f"no labels in {data}")


@loopml.pipeline
def training(data: str = "points@latest") -> int:
    return train(data)
"""


def test_a_failing_pipeline_fails_its_decision_with_the_step_error(tmp_path: Path) -> None:
    project = tmp_path / "project"
    write_agent_project(project, PROJECT.replace("cooldown: 0s", "cooldown: 1h"))
    (project / "pipelines.py").write_text(BROKEN, encoding="utf-8")
    with Client(config=init_project(project), create=False) as client:
        seed_champion(client, project)
        lease = client.loop.acquire_lease("agent:test", "tester", 60_000)
        assert lease is not None
        report = tick_once(client, project, lease=lease)

        decided = report.models[0].decided
        assert decided is not None and decided["state"] == "failed", report.to_dict()
        assert "no labels in points@2" in decided["error"] and "train" in decided["error"]
        (run,) = client.search_runs(filter=f"tags.{DECISION_TAG} = '{decided['id']}'").items
        assert str(run.status) == "FAILED"
        assert client.metadata.get_model_alias("points", "champion") == 1

        again = tick_once(client, project, lease=lease)  # within the cooldown: nothing
        assert again.models[0].decided is None and again.models[0].resumed == []
        (decision,) = client.loop.list_decisions(model="points").items
        assert decision.state is DecisionState.FAILED


def test_a_decision_left_trained_is_gated_held_and_promoted_once_approved(
    tmp_path: Path,
) -> None:
    """Resumed from where a crash left it (trained, its candidate registered), in approval
    mode: gated and held; promoted by the first tick after ``loopml models approve``."""
    project = tmp_path / "project"
    write_agent_project(project, PROJECT.replace("promotion: auto", "promotion: approval"))
    with Client(config=init_project(project), create=False) as client:
        seed_champion(client, project)
        model = loopml.models.load("points@1", client=client)
        signature = client.metadata.get_model_version("points", 1).signature
        with loopml.start_run("training", client=client) as run:
            run.use_dataset("points@2")
            loopml.models.register("points", model, signature=signature, run=run, client=client)
        loop = client.loop
        decision = loop.record_decision(
            NewDecision("retrain:points@champion:new_data:points@2", "points", "champion",
                        TriggerKind.NEW_DATA, {"dataset": "points", "data_version": 2}, 1)
        )  # fmt: skip
        loop.advance_decision(decision.id, DecisionUpdate(S.TRIGGERED, S.TRAINING))
        loop.advance_decision(
            decision.id,
            DecisionUpdate(S.TRAINING, S.TRAINED, pipeline_run_id=run.id, candidate_version=2),
        )
        lease = loop.acquire_lease("agent:test", "tester", 60_000)
        assert lease is not None

        report = tick_once(client, project, lease=lease)
        (resumed,) = report.models[0].resumed
        assert (resumed["from"], resumed["state"]) == ("trained", "held"), report.to_dict()
        assert "loopml models approve points@2" in resumed["action"]
        assert report.models[0].decided is None  # one retraining open: nothing new
        assert client.metadata.get_model_alias("points", "champion") == 1
        held = tick_once(client, project, lease=lease)  # no approval yet: still held
        assert held.models[0].resumed == [] and loop.get_decision(decision.id).state is S.HELD

        approve("points@2", comment="checked", client=client)
        promoted = tick_once(client, project, lease=lease)
        (moved,) = promoted.models[0].resumed
        assert (moved["from"], moved["state"]) == ("held", "promoted")
        stored = loop.get_decision(decision.id)
        assert stored.gate_result_id is not None and stored.lease_token == lease.token
        assert client.metadata.get_model_alias("points", "champion") == 2
