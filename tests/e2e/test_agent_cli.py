"""``loopml agent`` as a user runs it, on an embedded project (tests/fixtures/agent_project.py):
one tick retrains on the new data version, gates and promotes, and ``loopml loop log`` shows
it; the next tick does nothing. Two agents: one acts, the other waits (``--once`` exits 3);
the one training is killed with -9 while its pipeline is held, the other takes over after
the lease's ttl and finishes the SAME decision (one tagged run, one promotion); SIGTERM ends
the agent with 0 and frees the lease at once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from loopml.core.config import init_project
from loopml.core.loop_records import DecisionState
from loopml.loop.agent_training import DECISION_TAG
from loopml.tracking.client import Client
from tests.e2e.runner import LOOPML, cli
from tests.fixtures.agent_project import seed_champion, write_agent_project

WAIT_S = 120  # a generous bound for a shared machine; never a timing assertion


def expect(result: subprocess.CompletedProcess[str], code: int = 0) -> str:
    assert result.returncode == code, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "project"
    write_agent_project(folder)
    config = init_project(folder)
    with Client(config=config, create=False) as client:
        seed_champion(client, folder)
    yield folder


def _open(folder: Path) -> Client:
    return Client(config=init_project(folder), create=False)


def test_one_tick_retrains_gates_and_promotes_once(project: Path) -> None:
    report = json.loads(expect(cli("agent", "--once", "--json", cwd=project, timeout=180)))
    (model,) = report["models"]
    decided = model["decided"]
    assert model["model"] == "points@champion" and model["error"] is None, report
    assert decided["trigger"] == "new_data" and decided["state"] == "promoted", decided
    assert decided["candidate_version"] == 2 and decided["evidence"]["data_version"] == 2
    with _open(project) as client:
        assert client.metadata.get_model_alias("points", "champion") == 2
        version = client.metadata.get_model_version("points", 2)
        assert version.datasets == ("points@2",)  # trained on the newest data version
        runs = client.search_runs(filter=f"tags.{DECISION_TAG} = '{decided['id']}'").items
        assert [r.id for r in runs] == [decided["pipeline_run_id"]]
        assert runs[0].params["data"] == "points@2"
        stored = client.loop.get_decision(decided["id"])
        assert stored.gate_result_id is not None and stored.lease_token is not None
    log = expect(cli("loop", "log", cwd=project))
    assert "new_data" in log and "promoted points@2 to champion" in log

    again = json.loads(expect(cli("agent", "--once", "--json", cwd=project, timeout=120)))
    assert again["models"][0]["decided"] is None and again["models"][0]["resumed"] == []
    with _open(project) as client:
        assert len(client.loop.list_decisions(model="points").items) == 1
        changes = client.metadata.list_alias_history("points", "champion")
        assert [c.to_version for c in changes] == [1, 2]


class Agent:
    """A ``loopml agent`` running in the background, its output in a file."""

    def __init__(self, folder: Path, holder: str, log: Path) -> None:
        self.log_path = log
        env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")}
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                [str(LOOPML), "agent", "--tick", "500ms", "--lease-ttl", "2s", "--holder", holder],
                cwd=folder,
                env={**env, "COLUMNS": "200"},
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def output(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def wait_for(condition: Callable[[], bool], what: str, agents: list[Agent]) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        if time.monotonic() > deadline:
            logs = "\n".join(f"--- {a.log_path.name}\n{a.output()}" for a in agents)
            raise AssertionError(f"waited {WAIT_S} s for {what}\n{logs}")
        time.sleep(0.1)


def test_second_agent_takes_over_a_killed_one_and_finishes_its_decision(
    project: Path, tmp_path: Path
) -> None:
    (project / "hold").write_text("")  # the training step waits while this file exists
    first = Agent(project, "agent-a", tmp_path / "a.log")
    agents = [first]
    try:
        wait_for(lambda: "holding" in first.output(), "agent a to hold the lease", agents)
        second = Agent(project, "agent-b", tmp_path / "b.log")
        agents.append(second)
        wait_for(lambda: "waiting: agent-a holds" in second.output(), "agent b to wait", agents)
        busy = cli("agent", "--once", cwd=project)
        assert busy.returncode == 3 and "agent-a holds the agent lease" in busy.stderr

        wait_for(lambda: (project / "started").exists(), "the training to start", agents)
        first.process.send_signal(signal.SIGKILL)  # mid-training, decision in 'training'
        first.process.wait()
        with _open(project) as client:
            (decision,) = client.loop.list_decisions(model="points").items
            assert decision.state is DecisionState.TRAINING
            token_a = decision.lease_token
        wait_for(lambda: "holding" in second.output(), "agent b to take over", agents)
        (project / "hold").unlink()  # the training (its own process, alive) finishes
        wait_for(lambda: "promoted" in second.output(), "agent b to promote", agents)

        with _open(project) as client:
            stored = client.loop.get_decision(decision.id)
            assert stored.state is DecisionState.PROMOTED and stored.candidate_version == 2
            assert token_a is not None and (stored.lease_token or 0) > token_a  # b wrote it
            runs = client.search_runs(filter=f"tags.{DECISION_TAG} = '{decision.id}'").items
            assert len(runs) == 1  # the one training, never a second
            assert len(client.loop.list_decisions(model="points").items) == 1
            changes = client.metadata.list_alias_history("points", "champion")
            assert [c.to_version for c in changes] == [1, 2]  # one promotion

        second.process.send_signal(signal.SIGTERM)
        assert second.process.wait(timeout=WAIT_S) == 0, second.output()
        assert "stopped" in second.output()
        # the lease was released: the next agent acts at once (no wait for the ttl)
        expect(cli("agent", "--once", "--holder", "agent-c", cwd=project))
    finally:
        for agent in agents:
            agent.stop()
