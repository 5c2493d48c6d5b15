"""Model servers are known: ``loopml serve`` registers a deployment once its model is loaded,
records the version it swaps in, says goodbye on a clean stop, and a server killed with
SIGKILL is marked gone once its heartbeat lapses (its serving run closed). Prediction ids lead
back to the deployment and version, so ``loopml feedback`` needs no ``--model``.

Real servers (``loopml serve`` over a project's SQLite store) and the real CLI; the heartbeat is
short (``LOOPML_HEARTBEAT_SECONDS``) so a lapse takes well under a second.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sklearn.datasets import load_breast_cancer  # type: ignore[import-untyped]
from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]
from sklearn.pipeline import make_pipeline  # type: ignore[import-untyped]
from sklearn.preprocessing import StandardScaler  # type: ignore[import-untyped]

import loopml.models
from loopml.core.config import init_project
from loopml.core.entities import RunStatus
from loopml.core.loop_records import Deployment, DeploymentState
from loopml.monitoring.prediction_ids import origin_of
from loopml.tracking.client import Client
from tests.fixtures.model_server import (
    LOOPML,
    ModelServer,
    start_model_server,
    wait_for,
    wait_until_serving,
)

MODEL = "deployed"
FAST_BEAT = {"LOOPML_HEARTBEAT_SECONDS": "0.2"}


@dataclass
class Project:
    folder: Path
    client: Client
    swapping: ModelServer  # follows the alias every 0.1 s; stopped cleanly
    killed: ModelServer  # killed with SIGKILL


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    """A project with two versions of ``deployed``, ``@champion`` on version 1, and two
    servers of it warming up side by side."""
    folder = tmp_path_factory.mktemp("deployments")
    config = init_project(folder)
    x, y = load_breast_cancer(return_X_y=True)
    with Client(config.store_uri, config.artifact_uri) as client:
        for labels in (y, 1 - y):
            model = make_pipeline(StandardScaler(), LogisticRegression()).fit(x, labels)
            loopml.models.register(MODEL, model, input_example=x[:5], client=client)
        loopml.models.set_alias(MODEL, "champion", 1, client=client)
        target = f"{MODEL}@champion"
        servers = [
            start_model_server(folder, target, "--poll-seconds", "0.1", env=FAST_BEAT),
            start_model_server(folder, target, env=FAST_BEAT),
        ]
        try:
            yield Project(folder, client, *servers)
        finally:
            for server in servers:
                server.stop()


def _cli(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")}
    return subprocess.run(
        [str(LOOPML), *args], cwd=folder, env=env, capture_output=True, text=True, check=False
    )


def _deployment_of(client: Client, server: ModelServer) -> Deployment | None:
    port = server.url.rsplit(":", 1)[1]
    found = [d for d in client.loop.list_deployments(model=MODEL) if d.address.endswith(port)]
    return found[0] if found else None


def _registered(client: Client, server: ModelServer) -> Deployment:
    assert wait_for(lambda: _deployment_of(client, server) is not None, timeout=30), server.log()
    deployment = _deployment_of(client, server)
    assert deployment is not None
    return deployment


def _predict(server: ModelServer) -> list[str]:
    rows = load_breast_cancer().data[:3].tolist()
    answer = httpx.post(f"{server.url}/invocations", json={"inputs": rows}, timeout=30)
    assert answer.status_code == 200, answer.text
    return list(answer.json()["prediction_ids"])


def test_a_server_registers_records_its_swaps_and_ends_on_a_clean_stop(
    project: Project, tmp_path: Path
) -> None:
    folder, client = project.folder, project.client
    server = wait_until_serving(project.swapping)
    try:
        deployment = _registered(client, server)
        assert (deployment.alias, deployment.version) == ("champion", 1)
        assert deployment.state is DeploymentState.LIVE and deployment.run_id is not None
        listed = _cli(folder, "deployments", "list", "--json")
        assert listed.returncode == 0, listed.stderr
        assert deployment.id in [d["id"] for d in json.loads(listed.stdout)]

        first = _predict(server)
        loopml.models.set_alias(MODEL, "champion", 2, client=client)
        assert wait_for(lambda: client.loop.get_deployment(deployment.id).version == 2, 30)
        second = _predict(server)
        assert {origin_of(pid) for pid in first} == {(deployment.id, 1)}
        assert {origin_of(pid) for pid in second} == {(deployment.id, 2)}

        labels = tmp_path / "labels.csv"
        labels.write_text("prediction_id,label\n" + "".join(f"{p},1\n" for p in first + second))
        fed = _cli(folder, "feedback", str(labels), "--json")  # no --model
        assert fed.returncode == 0, fed.stderr
        assert (json.loads(fed.stdout)["model"], json.loads(fed.stdout)["rows"]) == (MODEL, 6)

        forged = first[0][:-1] + "9"  # a row past the end of its request
        labels.write_text(f"prediction_id,label\n{first[1]},1\n{forged},0\nnot-an-id,1\n")
        refused = _cli(folder, "feedback", str(labels))
        assert refused.returncode == 2
        assert f"row 2 {forged!r}" in refused.stderr and "row 3 'not-an-id'" in refused.stderr
    finally:
        server.stop()
    ended = client.loop.get_deployment(deployment.id)
    assert (ended.state, ended.end_reason) == (DeploymentState.ENDED, "stopped")

    hidden = _cli(folder, "runs", "list", "--json")
    shown = _cli(folder, "runs", "list", "--all", "--json")
    assert deployment.run_id not in [run["id"] for run in json.loads(hidden.stdout)]
    assert deployment.run_id in [run["id"] for run in json.loads(shown.stdout)]
    helped = _cli(folder, "runs", "list", "--help").stdout.replace("│", " ")
    assert "Also list the serving runs" in " ".join(helped.split())


def test_a_killed_server_is_gone_after_its_heartbeat_lapses_and_its_run_is_closed(
    project: Project,
) -> None:
    folder, client = project.folder, project.client
    server = wait_until_serving(project.killed)
    deployment = _registered(client, server)
    server.process.kill()  # SIGKILL: no goodbye
    server.process.wait()
    assert wait_for(
        lambda: client.loop.get_deployment(deployment.id).state is DeploymentState.GONE, 30
    )
    assert deployment.run_id is not None
    assert client.get_run(deployment.run_id).status is RunStatus.RUNNING  # until collected

    gc = _cli(folder, "runs", "gc", "--json")
    assert gc.returncode == 0, gc.stderr
    assert deployment.id in json.loads(gc.stdout)["gone_deployments"]
    closed = client.get_run(deployment.run_id)
    assert closed.status is RunStatus.KILLED and closed.end_time is not None

    shown = _cli(folder, "deployments", "show", deployment.id[:10])
    assert shown.returncode == 0, shown.stderr
    assert "gone (no heartbeat for" in shown.stdout and "heartbeat lapsed" in shown.stdout
    typo = _cli(folder, "deployments", "show", deployment.id[:-1] + "x")
    assert typo.returncode == 2 and "Did you mean" in typo.stderr
