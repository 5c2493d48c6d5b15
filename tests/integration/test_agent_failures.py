"""A training that fails, on a real SQLite project with the agent's real training process: the
decision ends ``failed`` with the step's error (read from its run), nothing is promoted, and
the cooldown keeps the next tick from running the broken pipeline again."""

from __future__ import annotations

from pathlib import Path

from loopml.core.config import init_project
from loopml.core.loop_records import DecisionState
from loopml.loop.agent_tick import tick_once
from loopml.loop.agent_training import DECISION_TAG
from loopml.tracking.client import Client
from tests.fixtures.agent_project import PROJECT, seed_champion, write_agent_project

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
