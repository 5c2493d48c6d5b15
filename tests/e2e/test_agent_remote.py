"""``loopml agent --once`` against ``loopml server`` over PostgreSQL and S3: the same one
retraining as embedded (new data version → train in its own process → gate → promote), every
record through the server, and a second tick that does nothing."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from loopml.core.loop_records import DecisionState
from loopml.loop.agent_training import DECISION_TAG
from loopml.tracking.client import Client
from tests.e2e.runner import cli
from tests.fixtures.agent_project import seed_champion, write_agent_project
from tests.fixtures.server import PlatformServer, start_platform_server, wait_until_ready


def expect(result: subprocess.CompletedProcess[str], code: int = 0) -> str:
    assert result.returncode == code, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture
def server(
    postgres_uri: str, s3_server: str, s3_artifact_uri: str, tmp_path: Path
) -> Iterator[PlatformServer]:
    started = None
    for attempt in range(3):  # a free port can be taken by someone else before bind
        started = start_platform_server(
            tmp_path / f"server-{attempt}",
            store_uri=postgres_uri,
            artifact_uri=s3_artifact_uri,
            env={"LOOPML_S3_ENDPOINT_URL": s3_server},
        )
        if wait_until_ready(started):
            break
        started.stop()
    assert started is not None and started.process.poll() is None, "loopml server did not start"
    try:
        yield started
    finally:
        started.stop()


@pytest.mark.postgres
@pytest.mark.s3
def test_agent_retrains_through_a_server_over_postgres_and_s3(
    server: PlatformServer, tmp_path: Path
) -> None:
    project = tmp_path / "project"
    write_agent_project(project)
    with Client(server_url=server.url) as client:
        seed_champion(client, project)
    env = {"LOOPML_SERVER_URL": server.url}

    report = json.loads(expect(cli("agent", "--once", "--json", cwd=project, env=env, timeout=180)))
    decided = report["models"][0]["decided"]
    assert decided is not None and decided["state"] == "promoted", report
    with Client(server_url=server.url) as client:
        assert client.metadata.get_model_alias("points", "champion") == 2
        assert client.metadata.get_model_version("points", 2).datasets == ("points@2",)
        runs = client.search_runs(filter=f"tags.{DECISION_TAG} = '{decided['id']}'").items
        assert [r.id for r in runs] == [decided["pipeline_run_id"]]
        stored = client.loop.get_decision(decided["id"])
        assert stored.state is DecisionState.PROMOTED and stored.lease_token is not None
    assert "promoted points@2 to champion" in expect(cli("loop", "log", cwd=project, env=env))

    again = json.loads(expect(cli("agent", "--once", "--json", cwd=project, env=env)))
    assert again["models"][0]["decided"] is None and again["errors"] == {}
