"""Pipelines run in process over real embedded stores: nested runs, outputs through the
artifact store, cache hits, resume after a failure, retries."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

import loopml
import loopml.data
from loopml.core.config import init_project
from loopml.core.entities import DatasetVersion, RunStatus
from loopml.core.errors import InvalidInputError, StepFailedError
from loopml.pipelines import dataset_version, run, step_output
from loopml.tracking.client import Client

CALLS: list[str] = []


@pytest.fixture
def client(tmp_path: Path) -> Iterator[Client]:
    CALLS.clear()
    with Client(
        store_uri=f"sqlite:///{tmp_path / 'loopml.db'}", artifact_uri=str(tmp_path / "artifacts")
    ) as c:
        yield c


@loopml.step
def make_table(*, rows: int = 4) -> pa.Table:
    CALLS.append("make_table")
    return pa.table({"x": list(range(rows)), "y": [float(i) * 2 for i in range(rows)]})


@loopml.step
def features(table: pa.Table, *, power: int = 1) -> np.ndarray:
    CALLS.append("features")
    return np.asarray(table.column("y").to_numpy()) ** power


@loopml.step
def summarize(values: np.ndarray, table: pa.Table) -> dict[str, float]:
    CALLS.append("summarize")
    return {"total": float(values.sum()), "rows": float(table.num_rows)}


@loopml.pipeline
def stats(rows: int = 4, power: int = 1) -> dict[str, float]:
    table = make_table(rows=rows)
    return summarize(features(table, power=power), table)


def test_a_pipeline_run_records_nested_step_runs_and_its_output(client: Client) -> None:
    result = run(stats, params={"rows": 3}, client=client)
    assert result.value() == {"total": 6.0, "rows": 3.0}
    assert CALLS == ["make_table", "features", "summarize"]
    parent = client.get_run(result.run_id)
    assert parent.status is RunStatus.FINISHED
    assert parent.params == {"rows": "3", "power": "1"}
    assert parent.tags["loopml.pipeline"] == "stats"
    for name, step in result.steps.items():
        step_run = client.get_run(step.run_id)
        assert step_run.parent_run_id == result.run_id and step_run.name == name
        assert step_run.tags["loopml.cached"] == "false"
        assert step_run.status is RunStatus.FINISHED and "duration_s" in step_run.metrics
    assert client.get_run(result.steps["make_table"].run_id).params == {"rows": "3"}
    assert result.steps["features"].materializer == "numpy"
    assert np.array_equal(result.value("features"), np.array([0.0, 2.0, 4.0]))


def test_lineage_edges_link_step_runs_through_the_outputs_they_read_and_wrote(
    client: Client,
) -> None:
    result = run(stats, client=client)
    table = result.steps["make_table"].output
    assert table is not None
    users = {
        (client.get_run(edge.run_id).name, edge.direction, edge.name)
        for edge in client.metadata.list_artifact_edges(digest=table)
    }
    assert users == {
        ("make_table", "output", "output"),
        ("features", "input", "table"),
        ("summarize", "input", "table"),
    }
    (final,) = client.metadata.list_artifact_edges(run_id=result.run_id)
    assert (final.direction, final.name) == ("output", "summarize")
    assert final.digest == result.steps["summarize"].output
    again = run(stats, client=client)  # cached steps record what they reused, too
    cached = client.metadata.list_artifact_edges(run_id=again.steps["features"].run_id)
    assert [(e.direction, e.name) for e in cached] == [("input", "table"), ("output", "output")]


def test_a_step_output_is_read_back_by_run_id(client: Client) -> None:
    result = run(stats, params={"rows": 3}, client=client)
    features_run = result.steps["features"].run_id
    assert np.array_equal(step_output(result.run_id, "features", client=client), [0.0, 2.0, 4.0])
    assert np.array_equal(step_output(features_run, client=client), [0.0, 2.0, 4.0])
    assert step_output(result.run_id, "summarize", client=client) == {"total": 6.0, "rows": 3.0}
    with pytest.raises(InvalidInputError, match=r"has no step call 'train'"):
        step_output(result.run_id, "train", client=client)
    with pytest.raises(InvalidInputError, match=r"is not a finished pipeline step"):
        step_output(result.run_id, client=client)


def test_a_second_run_is_served_from_the_cache(client: Client) -> None:
    first = run(stats, client=client)
    CALLS.clear()
    second = run(stats, client=client)
    assert CALLS == []
    assert all(step.cached for step in second.steps.values())
    assert second.value() == first.value()
    assert second.run_id != first.run_id
    step_run = client.get_run(second.steps["summarize"].run_id)
    assert step_run.tags["loopml.cached"] == "true"


def test_a_changed_param_reruns_only_what_it_reaches(client: Client) -> None:
    run(stats, client=client)
    CALLS.clear()
    changed = run(stats, params={"power": 2}, client=client)
    assert CALLS == ["features", "summarize"]  # make_table's output is reused
    assert changed.steps["make_table"].cached
    assert changed.value() == {"total": 0.0 + 4.0 + 16.0 + 36.0, "rows": 4.0}


def test_use_cache_false_runs_every_step(client: Client) -> None:
    run(stats, client=client)
    CALLS.clear()
    run(stats, client=client, use_cache=False)
    assert CALLS == ["make_table", "features", "summarize"]


def test_a_failed_step_names_itself_and_a_rerun_resumes_from_what_succeeded(
    client: Client, tmp_path: Path
) -> None:
    switch = tmp_path / "broken"
    switch.write_text("yes", encoding="utf-8")

    @loopml.step
    def fragile(values: np.ndarray, *, flag: str) -> float:
        CALLS.append("fragile")
        if Path(flag).read_text(encoding="utf-8") == "yes":
            raise ValueError("the model diverged")
        return float(values.max())

    @loopml.pipeline
    def guarded(flag: str) -> float:
        return fragile(features(make_table()), flag=flag)

    with pytest.raises(
        StepFailedError,
        match=r"Step 'fragile' failed after 1 attempt\(s\): "
        r"ValueError: the model diverged\. Its run is ",
    ) as failed:
        run(guarded, params={"flag": str(switch)}, client=client)
    assert failed.value.exit_code == 1
    runs = client.search_runs(filter="tags.loopml.pipeline = 'guarded'")
    assert [r.status for r in runs] == [RunStatus.FAILED]
    switch.write_text("no", encoding="utf-8")
    CALLS.clear()
    resumed = run(guarded, params={"flag": str(switch)}, client=client)
    assert CALLS == ["fragile"]  # make_table and features came from the failed run
    assert resumed.value() == 6.0


def test_retries_rerun_a_flaky_step_and_cache_false_always_runs(client: Client) -> None:
    attempts: list[int] = []

    @loopml.step(retries=2, cache=False)
    def flaky() -> int:
        attempts.append(1)
        if len(attempts) < 2:
            raise ConnectionError("try again")
        return len(attempts)

    @loopml.pipeline
    def unreliable() -> int:
        return flaky()

    result = run(unreliable, client=client)
    assert result.value() == 2 and result.steps["flaky"].attempts == 2
    assert client.get_run(result.steps["flaky"].run_id).metrics["attempts"] == 2
    again = run(unreliable, client=client)
    assert not again.steps["flaky"].cached and again.value() == 3


@loopml.step
def row_count(version: DatasetVersion) -> int:
    CALLS.append("row_count")
    return loopml.data.get(f"{version.dataset}@{version.version}").to_arrow().num_rows


@loopml.pipeline
def counting(data: str = "iris@latest") -> int:
    return row_count(dataset_version(ref=data))


def test_a_dataset_reference_is_pinned_at_run_time_and_recorded_as_lineage(
    client: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    init_project(tmp_path / "project")  # loopml.data.get inside the step finds this project
    monkeypatch.chdir(tmp_path / "project")
    with Client() as project_client:
        csv = tmp_path / "iris.csv"
        csv.write_text("x\n1\n2\n", encoding="utf-8")
        loopml.data.add("iris", csv, client=project_client)
        first = run(counting, client=project_client)
        assert first.value() == 2 and CALLS == ["row_count"]
        edges = project_client.metadata.list_dataset_inputs(run_id=first.run_id)
        assert [(e.dataset, e.version) for e in edges] == [("iris", 1)]
        step_id = first.steps["dataset_version"].run_id
        assert len(project_client.metadata.list_dataset_inputs(run_id=step_id)) == 1

        CALLS.clear()
        assert run(counting, client=project_client).steps["row_count"].cached  # same version
        assert CALLS == []
        csv.write_text("x\n1\n2\n3\n", encoding="utf-8")
        loopml.data.add("iris", csv, client=project_client)
        newer = run(counting, client=project_client)  # @latest is now iris@2: not cached
        assert newer.value() == 3 and not newer.steps["row_count"].cached
        pinned = run(counting, params={"data": "iris@1"}, client=project_client)
        assert pinned.steps["row_count"].cached and pinned.value() == 2


def test_what_a_step_prints_and_logs_is_its_run_artifact_step_log(
    client: Client, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import logging

    @loopml.step
    def chatty(*, fail: bool = False) -> int:
        print("printed by the step")
        logging.getLogger("user.code").warning("logged by the step")
        if fail:
            raise KeyError("missing column")
        return 1

    @loopml.pipeline
    def talking(fail: bool = False) -> int:
        return chatty(fail=fail)

    def log_of(run_id: str) -> str:
        return client.download_artifacts(run_id, "step.log", tmp_path / run_id).read_text()

    done = run(talking, client=client)
    text = log_of(done.steps["chatty"].run_id)
    assert "printed by the step" in text and "WARNING user.code: logged by the step" in text
    assert "printed by the step" in capsys.readouterr().out  # still shown as well

    with pytest.raises(StepFailedError, match="its output and traceback are the run's artifact"):
        run(talking, params={"fail": True}, client=client)
    failed = client.search_runs(filter="tags.loopml.cached = 'false'", order_by=["start_time DESC"])
    text = log_of(failed[0].id)
    assert "Traceback (most recent call last)" in text and "KeyError: 'missing column'" in text
