"""``loopml pipeline run`` / ``loopml tune`` with ``--executor ray`` as a user runs them: a
module in the project folder, on a Ray runtime the command starts itself, and on a cluster
started with ``ray start --head`` on 127.0.0.1."""

from __future__ import annotations

import json
import subprocess
import textwrap
from pathlib import Path

import pytest

from loopml.core.config import init_project
from tests.e2e.runner import cli
from tests.fixtures.ray import ray_env, short_temp_folder

FLOWS = textwrap.dedent(
    """
    import os

    import loopml


    def square(value: int) -> int:  # a helper the Ray worker imports from this module
        return value * value


    @loopml.step
    def numbers(*, count: int = 3) -> list[int]:
        return list(range(1, count + 1))


    @loopml.step(resources={"num_cpus": 1})
    def squares(values: list[int]) -> dict[str, int]:
        return {"total": sum(square(v) for v in values), "pid": os.getpid()}


    @loopml.step
    def loss(*, x: float = 0.0) -> float:
        return (x - 2.0) ** 2


    @loopml.pipeline
    def summing(count: int = 3) -> dict[str, int]:
        return squares(numbers(count=count))


    @loopml.pipeline
    def fitting(x: float = 0.0) -> float:
        return loss(x=x)
    """
)


def expect(result: subprocess.CompletedProcess[str], code: int) -> str:
    assert result.returncode == code, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture
def project(tmp_path: Path) -> Path:
    init_project(tmp_path)
    (tmp_path / "flows.py").write_text(FLOWS, encoding="utf-8")
    return tmp_path


def test_pipeline_run_starts_a_local_ray_runtime_when_given_no_address(project: Path) -> None:
    args = ("pipeline", "run", "flows:summing", "-p", "count=4", "--executor", "ray", "--json")
    with short_temp_folder("ray-cli-") as folder:
        env = ray_env(folder)
        document = json.loads(expect(cli(*args, cwd=project, env=env, timeout=180), 0))
    assert [step["call"] for step in document["steps"]] == ["numbers", "squares"]
    runs = json.loads(expect(cli("runs", "show", document["run_id"], "--json", cwd=project), 0))
    assert runs["tags"]["loopml.executor"] == "ray"


def test_a_pipeline_and_a_search_run_on_a_ray_cluster_on_loopback(
    project: Path, ray_cluster: tuple[str, dict[str, str]]
) -> None:
    address, env = ray_cluster
    ray = ("--executor", "ray", "--ray-address", address)
    args = ("pipeline", "run", "flows:summing", "-p", "count=4", *ray, "--json")
    document = json.loads(expect(cli(*args, cwd=project, env=env, timeout=180), 0))
    assert [step["cached"] for step in document["steps"]] == [False, False]
    from loopml.tracking.client import Client

    with Client(
        store_uri=f"sqlite:///{project / '.loopml' / 'loopml.db'}",
        artifact_uri=str(project / ".loopml" / "artifacts"),
    ) as client:
        squares = client.get_run(document["steps"][1]["run_id"])
        assert squares.status.value == "FINISHED"
    again = json.loads(expect(cli(*args, cwd=project, env=env, timeout=180), 0))
    assert [step["cached"] for step in again["steps"]] == [True, True]

    search = ("tune", "flows:fitting", "-s", "x=uniform:0:4", "-n", "4", "--minimize", *ray)
    result = json.loads(expect(cli(*search, "--seed", "5", "--json", cwd=project, env=env,
                                   timeout=180), 0))  # fmt: skip
    values = [trial["value"] for trial in result["trials"]]
    assert len(values) == 4 and result["best"]["value"] == min(values)
