"""The tracking client contract: the same behaviour embedded and through a real server."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import loopml
from loopml import Client, Metric, RunStatus
from loopml.core.errors import (
    ConflictError,
    FilterSyntaxError,
    InvalidInputError,
    NotFoundError,
)


@pytest.fixture(params=["embedded", "remote"])
def client(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Client]:
    if request.param == "embedded":
        made = Client(
            store_uri=f"sqlite:///{tmp_path / 'store' / 'loopml.db'}",
            artifact_uri=str(tmp_path / "artifacts"),
        )
    else:
        # the module's server: every check makes runs of its own, "search" counts its own
        made = Client(server_url=request.getfixturevalue("shared_platform_server_url"))
    with made:
        yield made


def test_start_run_records_params_metrics_tags_and_finishes(client: Client) -> None:
    with loopml.start_run(
        experiment="contract", params={"lr": 0.1, "model": "rf"}, name="first", client=client
    ) as run:
        for step in range(3):
            run.log_metric("loss", 1.0 / (step + 1), step=step)
        run.set_tag("team", "x")
        assert run.status is RunStatus.RUNNING
    stored = client.get_run(run.id)
    assert stored.status is RunStatus.FINISHED
    assert stored.end_time is not None and stored.end_time >= stored.start_time
    assert stored.name == "first"
    assert stored.params == {"lr": "0.1", "model": "rf"}
    assert stored.metrics["loss"] == pytest.approx(1 / 3)
    assert stored.tags["team"] == "x"
    history = client.get_metric_history(run.id, "loss")
    assert [m.step for m in history] == [0, 1, 2]


def test_run_captures_system_info(client: Client) -> None:
    with loopml.start_run(experiment="contract", client=client) as run:
        pass
    tags = client.get_run(run.id).tags
    for key in ("loopml.python", "loopml.host", "loopml.command", "loopml.packages"):
        assert tags.get(key), key
    assert "loopml" in tags["loopml.packages"]


def test_nested_runs_point_at_their_parent(client: Client) -> None:
    with loopml.start_run(experiment="contract", client=client) as parent:
        with loopml.start_run(name="child") as child:
            child.log_metric("x", 1.0)
        assert child.status is RunStatus.FINISHED
    stored = client.get_run(child.id)
    assert stored.parent_run_id == parent.id
    assert stored.experiment_id == parent.experiment_id


def test_exception_inside_run_marks_it_failed_and_propagates(client: Client) -> None:
    with (
        pytest.raises(ZeroDivisionError),
        loopml.start_run(experiment="contract", client=client) as run,
    ):
        run.log_metric("before", 1.0)
        _ = 1 / 0
    stored = client.get_run(run.id)
    assert stored.status is RunStatus.FAILED
    assert stored.metrics["before"] == 1.0


def test_param_cannot_be_overwritten_with_a_different_value(client: Client) -> None:
    with loopml.start_run(experiment="contract", params={"depth": 3}, client=client) as run:
        run.log_param("depth", 3)  # same value: fine
        with pytest.raises(ConflictError) as info:
            run.log_param("depth", 5)
        assert "'3'" in info.value.message and "'5'" in info.value.message
    assert client.get_run(run.id).params["depth"] == "3"


def test_non_numeric_metric_is_refused_at_the_call(client: Client) -> None:
    with loopml.start_run(experiment="contract", client=client) as run:
        with pytest.raises(InvalidInputError, match="must be a number"):
            run.log_metric("acc", "high")  # type: ignore[arg-type]
        with pytest.raises(InvalidInputError):
            run.log_metric("acc", True)
    assert "acc" not in client.get_run(run.id).metrics


def test_nan_and_infinity_round_trip(client: Client) -> None:
    with loopml.start_run(experiment="contract", client=client) as run:
        run.log_metric("v", math.nan, step=0)
        run.log_metric("v", math.inf, step=1)
        run.log_metric("v", -math.inf, step=2)
    values = [m.value for m in client.get_metric_history(run.id, "v")]
    assert math.isnan(values[0]) and values[1] == math.inf and values[2] == -math.inf


def test_over_long_and_bad_keys_are_refused(client: Client) -> None:
    with loopml.start_run(experiment="contract", client=client) as run:
        with pytest.raises(InvalidInputError, match="maximum is 250"):
            run.log_metric("k" * 251, 1.0)
        with pytest.raises(InvalidInputError):
            run.log_param("../escape", 1)
    stored = client.get_run(run.id)
    assert stored.metrics == {} and stored.params == {}


def test_search_filters_orders_and_paginates(client: Client) -> None:
    experiment = "search"
    for i in range(7):
        model = "rf" if i % 2 else "lr"
        with loopml.start_run(experiment=experiment, params={"model": model}, client=client) as r:
            r.log_metric("auc", 0.8 + i * 0.02)
            r.set_tag("team", "a" if i < 4 else "b")
    found = client.search_runs(
        experiment=experiment,
        filter="metrics.auc > 0.85 and params.model = 'rf' and tags.team = 'b'",
        order_by=["metrics.auc DESC"],
    )
    aucs = [run.metrics["auc"] for run in found]
    assert aucs == sorted(aucs, reverse=True) and len(aucs) == 1  # only i=5
    assert aucs[0] == pytest.approx(0.9)
    seen: list[str] = []
    token: str | None = None
    while True:
        page = client.search_runs(experiment=experiment, max_results=3, page_token=token)
        seen.extend(run.id for run in page)
        token = page.next_page_token
        if token is None:
            break
    assert len(seen) == len(set(seen)) == 7


def test_bad_filter_points_at_the_position(client: Client) -> None:
    with pytest.raises(FilterSyntaxError) as info:
        client.search_runs(filter="metrics.auc >> 0.9")
    assert "position" in info.value.message


def test_unknown_ids_raise_not_found(client: Client) -> None:
    with pytest.raises(NotFoundError, match="nope"):
        client.get_run("nope")
    with pytest.raises(NotFoundError):
        client.search_runs(experiment="no-such-experiment")
    with pytest.raises(NotFoundError):
        client.log_param("nope", "a", 1)


def test_artifacts_files_and_folders_list_and_download(client: Client, tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "model" / "sub").mkdir(parents=True)
    (src / "model" / "weights.bin").write_bytes(b"\x00\x01" * 5000)
    (src / "model" / "sub" / "config.json").write_text('{"a": 1}')
    (src / "notes.txt").write_text("hello")
    with loopml.start_run(experiment="contract", client=client) as run:
        run.log_artifact(src / "notes.txt")
        run.log_artifact(src / "model", artifact_path="outputs")
    top = client.list_artifacts(run.id)
    assert [(a.path, a.is_dir) for a in top] == [("notes.txt", False), ("outputs", True)]
    inner = client.list_artifacts(run.id, "outputs/model")
    assert [(a.path, a.is_dir) for a in inner] == [
        ("outputs/model/sub", True),
        ("outputs/model/weights.bin", False),
    ]
    dst = tmp_path / "dst"
    local = client.download_artifacts(run.id, "outputs/model", dst)
    assert local == dst.resolve() / "model"
    assert (local / "weights.bin").read_bytes() == b"\x00\x01" * 5000
    assert (local / "sub" / "config.json").read_text() == '{"a": 1}'
    single = client.download_artifacts(run.id, "notes.txt", dst)
    assert single.read_text() == "hello"


def test_artifact_path_traversal_is_refused(client: Client, tmp_path: Path) -> None:
    file = tmp_path / "f.txt"
    file.write_text("x")
    with loopml.start_run(experiment="contract", client=client) as run:
        with pytest.raises(InvalidInputError, match="inside the run"):
            run.log_artifact(file, artifact_path="../../etc")
        with pytest.raises(InvalidInputError):
            client.download_artifacts(run.id, "../secret", tmp_path)
    assert client.list_artifacts(run.id) == []


def test_delete_run_removes_it(client: Client) -> None:
    with loopml.start_run(experiment="contract", client=client) as run:
        pass
    client.delete_run(run.id)
    with pytest.raises(NotFoundError):
        client.get_run(run.id)


def test_metrics_are_written_in_the_background_without_a_flush(client: Client) -> None:
    with loopml.start_run(experiment="contract", client=client) as run:
        for step in range(10):
            run.log_metric("bg", float(step), step=step)
        deadline = time.monotonic() + 10
        stored: list[Metric] = []
        while time.monotonic() < deadline and len(stored) < 10:
            time.sleep(0.05)
            stored = client.metadata.get_metric_history(run.id, "bg")  # no flush here
        assert [m.value for m in stored] == [float(s) for s in range(10)]


def test_a_rejected_background_write_is_reported_and_the_run_still_ends(client: Client) -> None:
    with loopml.start_run(experiment="contract", client=client) as run:
        pass
    client.delete_run(run.id)
    with loopml.start_run(experiment="contract", client=client) as other:
        client.log_metric(run.id, "orphan", 1.0)  # its run is gone: the write is refused
        with pytest.raises(NotFoundError):
            client.flush()
        other.log_metric("fine", 1.0)
    assert client.get_run(other.id).status is RunStatus.FINISHED
    assert client.get_run(other.id).metrics == {"fine": 1.0}
