"""The process executor and step timeouts over real embedded stores: independent branches in
separate worker processes at the same time, timeouts that stop the step, a dying worker, and
steps that log to their own run from a worker. Steps live at module level so that worker
processes can import them."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

import loopml
from loopml.core.entities import RunStatus
from loopml.core.errors import InvalidInputError, StepFailedError
from loopml.pipelines import run, tune, uniform
from loopml.tracking.client import Client


@loopml.step
def source(*, size: int = 3) -> list[int]:
    return list(range(size))


@loopml.step
def branch(values: list[int], *, label: str, marker: str) -> dict[str, float]:
    """Record when and where it ran, wait for the other branch to start, then finish."""
    folder = Path(marker)
    (folder / f"{label}.start").write_text(f"{os.getpid()} {time.time()}", encoding="utf-8")
    others = [p for p in folder.glob("*.start") if p.stem != label]
    deadline = time.monotonic() + 20
    while not others and time.monotonic() < deadline:  # the other branch is running too
        time.sleep(0.05)
        others = [p for p in folder.glob("*.start") if p.stem != label]
    run = loopml.active_run()
    assert run is not None
    run.log_metric("seen_other", float(bool(others)))
    return {"total": float(sum(values)), "pid": float(os.getpid())}


@loopml.step
def join(left: dict[str, float], right: dict[str, float]) -> dict[str, float]:
    return {"total": left["total"] + right["total"], "pids": len({left["pid"], right["pid"]})}


@loopml.pipeline
def diamond(marker: str, size: int = 3) -> dict[str, float]:
    values = source(size=size)
    return join(branch(values, label="a", marker=marker), branch(values, label="b", marker=marker))


@loopml.step(timeout=1.0)
def sleepy(values: list[int], *, seconds: float = 30.0) -> int:
    time.sleep(seconds)
    return len(values)


@loopml.pipeline
def slow(seconds: float = 30.0) -> int:
    return sleepy(source(size=2), seconds=seconds)


@loopml.step
def crash(*, code: int = 3) -> int:
    os._exit(code)


@loopml.pipeline
def crashing(code: int = 3) -> int:
    return crash(code=code)


@loopml.step(retries=2)
def flaky(*, counter: str) -> int:
    path = Path(counter)
    tries = int(path.read_text(encoding="utf-8")) + 1 if path.exists() else 1
    path.write_text(str(tries), encoding="utf-8")
    if tries < 2:
        raise ConnectionError("the feature store blinked")
    return tries


@loopml.pipeline
def retried(counter: str) -> int:
    return flaky(counter=counter)


@loopml.step(timeout=120)
def parabola(*, x: float) -> float:
    return -((x - 0.4) ** 2)


@loopml.pipeline
def timed_scoring(x: float = 0.0) -> float:
    return parabola(x=x)


def test_trials_in_worker_processes_can_run_steps_with_a_timeout(client: Client) -> None:
    """Each trial's pipeline runs in a worker, and its timed step in a child of that worker."""
    result = tune(
        timed_scoring, {"x": uniform(0, 1)}, n_trials=2, seed=2, client=client,
        executor="process", workers=2,
    )  # fmt: skip
    assert [trial.state for trial in result.trials] == ["complete", "complete"]
    for trial in result.trials:
        assert trial.value == pytest.approx(-((trial.params["x"] - 0.4) ** 2))


def test_independent_branches_run_side_by_side_in_worker_processes(
    client: Client, tmp_path: Path
) -> None:
    marker = tmp_path / "marker"
    marker.mkdir()
    result = run(diamond, params={"marker": str(marker)}, client=client, executor="process")
    assert result.value() == {"total": 6.0, "pids": 2}
    pids = {float(p.read_text().split()[0]) for p in marker.glob("*.start")}
    assert len(pids) == 2 and os.getpid() not in pids
    for name in ("branch", "branch-2"):
        step_run = client.get_run(result.steps[name].run_id)
        assert step_run.metrics["seen_other"] == 1.0  # logged from the worker to its own run
        assert step_run.status is RunStatus.FINISHED and step_run.parent_run_id == result.run_id
    assert client.get_run(result.run_id).tags["loopml.executor"] == "process"
    again = run(diamond, params={"marker": str(marker)}, client=client, executor="process")
    assert all(step.cached for step in again.steps.values())


def test_the_local_executor_runs_the_same_pipeline_one_step_at_a_time(
    client: Client, tmp_path: Path
) -> None:
    marker = tmp_path / "marker"
    marker.mkdir()
    result = run(diamond, params={"marker": str(marker)}, client=client, executor="local")
    assert result.value()["total"] == 6.0
    seen = [client.get_run(result.steps[n].run_id).metrics["seen_other"] for n in ("branch",)]
    assert seen == [0.0]  # waited in vain: nothing else ran beside it


@pytest.mark.parametrize("executor", ["local", "process"])
def test_a_step_past_its_timeout_is_stopped_and_named(client: Client, executor: str) -> None:
    started = time.monotonic()
    with pytest.raises(StepFailedError, match=r"Step 'sleepy' failed .*timed out after 1 s"):
        run(slow, client=client, executor=executor)
    assert time.monotonic() - started < 25  # stopped, not slept through
    (step_run,) = client.search_runs(filter="attributes.name = 'sleepy'")
    assert step_run.status is RunStatus.FAILED
    assert client.search_runs(filter="tags.loopml.pipeline = 'slow'")[0].status is RunStatus.FAILED
    quick = run(slow, params={"seconds": 0.0}, client=client, executor=executor)
    assert quick.value() == 2  # within its timeout, it reads its input and returns


def test_a_worker_that_dies_fails_its_step_with_the_exit_code(client: Client) -> None:
    with pytest.raises(StepFailedError, match=r"worker process died \(exit code 3\)"):
        run(crashing, client=client, executor="process", workers=1)


def test_retries_happen_in_workers_too(client: Client, tmp_path: Path) -> None:
    counter = tmp_path / "tries"
    result = run(retried, params={"counter": str(counter)}, client=client, executor="process")
    assert result.value() == 2 and result.steps["flaky"].attempts == 2


def test_a_step_a_worker_cannot_import_is_refused_before_anything_runs(client: Client) -> None:
    @loopml.step
    def local_only() -> int:
        return 1

    @loopml.pipeline
    def inner() -> int:
        return local_only()

    with pytest.raises(InvalidInputError, match=r"cannot be sent to a worker process"):
        run(inner, client=client, executor="process")
    assert list(client.search_runs(filter="tags.loopml.pipeline = 'inner'")) == []


def test_unknown_executors_and_bad_worker_counts_are_refused(client: Client) -> None:
    with pytest.raises(InvalidInputError, match=r"Unknown executor 'dask'\. Allowed: local"):
        run(slow, client=client, executor="dask")
    with pytest.raises(InvalidInputError, match=r"--workers must be an int >= 1"):
        run(slow, client=client, executor="process", workers=0)


def test_the_configured_executor_is_the_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOOPML_EXECUTOR", "process")
    with Client(
        store_uri=f"sqlite:///{tmp_path / 'loopml.db'}", artifact_uri=str(tmp_path / "artifacts")
    ) as configured:
        result = run(retried, params={"counter": str(tmp_path / "tries")}, client=configured)
        assert configured.get_run(result.run_id).tags["loopml.executor"] == "process"
