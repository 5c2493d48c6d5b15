"""The Ray executor on a real local Ray runtime: steps as Ray tasks in Ray's worker
processes with their resources, outputs through the stores, failures and timeouts named, and
trials of a search running side by side."""

from __future__ import annotations

import itertools
import os
import time
from pathlib import Path

import pytest

import loopml
from loopml.core.entities import RunStatus
from loopml.core.errors import InvalidInputError, StepFailedError
from loopml.pipelines import run, tune, uniform
from loopml.tracking.client import Client
from tests.fixtures.server import start_platform_server, wait_until_ready

pytestmark = pytest.mark.usefixtures("ray_runtime")


@loopml.step
def numbers(*, count: int = 4) -> list[int]:
    return list(range(count))


@loopml.step(resources={"num_cpus": 2})
def heavy(values: list[int]) -> dict[str, float]:
    import ray

    assigned = ray.get_runtime_context().get_assigned_resources()
    step_run = loopml.active_run()
    assert step_run is not None
    step_run.log_metric("values", float(len(values)))
    return {"sum": float(sum(values)), "cpus": assigned.get("CPU", 0.0), "pid": os.getpid()}


@loopml.pipeline
def crunch(count: int = 4) -> dict[str, float]:
    return heavy(numbers(count=count))


def test_steps_run_as_ray_tasks_with_their_resources(client: Client) -> None:
    result = run(crunch, params={"count": 5}, client=client, executor="ray")
    value = result.value()
    assert value["sum"] == 10.0 and value["cpus"] == 2.0 and value["pid"] != os.getpid()
    step_run = client.get_run(result.steps["heavy"].run_id)
    assert step_run.metrics["values"] == 5.0  # logged inside the Ray task, to the step's run
    assert step_run.status is RunStatus.FINISHED and step_run.tags["loopml.cached"] == "false"
    assert client.get_run(result.run_id).tags["loopml.executor"] == "ray"
    again = run(crunch, params={"count": 5}, client=client, executor="ray")
    assert all(step.cached for step in again.steps.values())


@loopml.step(resources={"num_gpus": 1})
def needs_gpu() -> int:
    return 1


@loopml.pipeline
def on_gpu() -> int:
    return needs_gpu()


def test_a_step_asking_for_more_than_the_cluster_has_is_refused_before_running(
    client: Client,
) -> None:
    with pytest.raises(InvalidInputError, match=r"Step 'needs_gpu' asks for GPU 1, more than"):
        run(on_gpu, client=client, executor="ray")
    assert list(client.search_runs()) == []


@loopml.step
def explode(*, message: str) -> int:
    print("about to fail")
    raise ArithmeticError(message)


@loopml.pipeline
def exploding(message: str = "no convergence") -> int:
    return explode(message=message)


def test_a_failing_task_names_the_step_its_exception_and_its_log(
    client: Client, tmp_path: Path
) -> None:
    with pytest.raises(
        StepFailedError,
        match=r"Step 'explode' failed after 1 attempt\(s\): ArithmeticError: no convergence",
    ):
        run(exploding, client=client, executor="ray")
    (step_run,) = client.search_runs(filter="tags.loopml.cached = 'false'")
    log = client.download_artifacts(step_run.id, "step.log", tmp_path).read_text()
    assert "about to fail" in log and "ArithmeticError: no convergence" in log


@loopml.step(timeout=1.0)
def stuck() -> int:
    time.sleep(60)
    return 1


@loopml.pipeline
def stalling() -> int:
    return stuck()


def test_a_task_past_its_timeout_is_cancelled(client: Client) -> None:
    started = time.monotonic()
    with pytest.raises(StepFailedError, match=r"timed out after 1 s \(its Ray task was cancelled"):
        run(stalling, client=client, executor="ray")
    assert time.monotonic() - started < 30


def objective(params: dict[str, float], trial: loopml.pipelines.tuning.Trial) -> float:
    started = time.time()
    time.sleep(0.3)  # long enough for trials to overlap on 2 CPUs
    trial.run.set_tags({"pid": os.getpid(), "span": f"{started} {time.time()}"})
    return -((params["x"] - 0.25) ** 2)


def test_trials_run_side_by_side_as_ray_tasks(client: Client) -> None:
    result = tune(objective, {"x": uniform(0, 1)}, n_trials=6, seed=1, client=client,
                  executor="ray")  # fmt: skip
    assert [t.state for t in result.trials] == ["complete"] * 6
    runs = [client.get_run(t.run_id) for t in result.trials]
    assert all(r.parent_run_id == result.run_id and r.status is RunStatus.FINISHED for r in runs)
    assert {r.metrics["objective"] for r in runs} == {t.value for t in result.trials}
    pids = {r.tags["pid"] for r in runs}
    assert str(os.getpid()) not in pids and len(pids) >= 2  # two Ray workers took trials
    spans = sorted(tuple(map(float, r.tags["span"].split())) for r in runs)
    assert any(later[0] < earlier[1] for earlier, later in itertools.pairwise(spans))
    assert result.best_value == max(t.value for t in result.trials if t.value is not None)


@loopml.step(timeout=120)  # run in a child process of the trial's Ray task
def score_x(*, x: float) -> float:
    return -((x - 0.5) ** 2)


@loopml.pipeline
def scoring(x: float = 0.0) -> float:
    return score_x(x=x)


def test_a_pipeline_is_tuned_with_each_trial_running_it_in_a_ray_task(client: Client) -> None:
    result = tune(scoring, {"x": uniform(0, 1)}, n_trials=4, seed=3, client=client,
                  executor="ray")  # fmt: skip
    for trial in result.trials:
        inside = f"attributes.parent_run_id = '{trial.run_id}'"
        pipeline_runs = client.search_runs(filter=f"tags.loopml.pipeline = 'scoring' and {inside}")
        assert len(list(pipeline_runs)) == 1
        assert trial.value == pytest.approx(-((trial.params["x"] - 0.5) ** 2))


@pytest.mark.postgres
@pytest.mark.s3
def test_a_team_setup_runs_steps_on_ray_against_the_server(
    postgres_uri: str, s3_server: str, s3_artifact_uri: str, tmp_path: Path
) -> None:
    """`loopml server` over PostgreSQL + S3, Ray workers reaching it over HTTP: the same
    pipeline, the same records."""
    server = start_platform_server(
        tmp_path / "server",
        store_uri=postgres_uri,
        artifact_uri=s3_artifact_uri,
        env={"LOOPML_S3_ENDPOINT_URL": s3_server},
    )
    try:
        assert wait_until_ready(server, 60), server.log()
        with Client(server_url=server.url) as remote:
            result = run(crunch, params={"count": 3}, client=remote, executor="ray")
            assert result.value()["sum"] == 3.0
            step_run = remote.get_run(result.steps["heavy"].run_id)
            assert step_run.metrics["values"] == 3.0  # logged by the Ray worker over HTTP
            again = run(crunch, params={"count": 3}, client=remote, executor="ray")
            assert all(step.cached for step in again.steps.values())
    finally:
        server.stop()
