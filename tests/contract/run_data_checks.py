"""Metadata store checks of what a run logs: params, metrics, tags, artifact entries and the
batches that carry them (validated before anything is written; a retried batch is stored once).
"""

from __future__ import annotations

import math
import random
import string

import pytest

from loopml.core.entities import ArtifactEntry, Metric, Param, Tag
from loopml.core.errors import (
    ConflictError,
    InvalidInputError,
)
from loopml.stores.metadata.base import MetadataStore
from tests.contract.metadata_check_data import (
    DIGEST,
    blob,
    new_experiment,
    new_run,
    search,
)

# params


def check_param_set_again_to_the_same_value_is_a_noop(store: MetadataStore) -> None:
    run = new_run(store, new_experiment(store))
    store.log_batch(run.id, params=[Param("lr", "0.1")])
    store.log_batch(run.id, params=[Param("lr", "0.1"), Param("lr", "0.1")])
    assert store.get_run(run.id).params == {"lr": "0.1"}


def check_param_cannot_be_overwritten_with_a_different_value(store: MetadataStore) -> None:
    run = new_run(store, new_experiment(store))
    store.log_batch(run.id, params=[Param("lr", "0.1")])
    with pytest.raises(ConflictError) as caught:
        store.log_batch(run.id, params=[Param("lr", "0.2")])
    message = str(caught.value)
    assert "lr" in message and "0.1" in message and "0.2" in message
    assert store.get_run(run.id).params == {"lr": "0.1"}


def check_failed_batch_writes_nothing(store: MetadataStore) -> None:
    run = new_run(store, new_experiment(store))
    store.log_batch(run.id, params=[Param("lr", "0.1")])
    with pytest.raises(ConflictError):
        store.log_batch(
            run.id,
            metrics=[Metric("loss", 0.5, 0, 1)],
            params=[Param("depth", "3"), Param("lr", "0.9")],
            tags=[Tag("note", "x")],
        )
    after = store.get_run(run.id)
    assert after.params == {"lr": "0.1"} and after.metrics == {} and after.tags == {}
    assert store.get_metric_history(run.id, "loss") == []


# metrics


def check_metric_history_is_ordered_by_step_then_timestamp(store: MetadataStore) -> None:
    run = new_run(store, new_experiment(store))
    store.log_batch(run.id, metrics=[Metric("loss", 0.3, 2, 10), Metric("loss", 0.9, 0, 30)])
    store.log_batch(run.id, metrics=[Metric("loss", 0.5, 1, 20), Metric("loss", 0.4, 1, 5)])
    history = store.get_metric_history(run.id, "loss")
    assert [(m.step, m.timestamp, m.value) for m in history] == [
        (0, 30, 0.9),
        (1, 5, 0.4),
        (1, 20, 0.5),
        (2, 10, 0.3),
    ]
    assert store.get_metric_history(run.id, "other") == []


def check_nan_and_infinities_round_trip(store: MetadataStore) -> None:
    run = new_run(store, new_experiment(store))
    values = [math.nan, math.inf, -math.inf, 0.0, -0.0, 5e-324, 1.7976931348623157e308]
    store.log_batch(run.id, metrics=[Metric("v", v, i, i) for i, v in enumerate(values)])
    store.log_batch(run.id, metrics=[Metric("nan", math.nan, 0, 0), Metric("inf", math.inf, 0, 0)])
    history = store.get_metric_history(run.id, "v")
    assert all(
        got.same_value(Metric("v", want, i, i))
        for i, (got, want) in enumerate(zip(history, values, strict=True))
    )
    latest = store.get_run(run.id).metrics
    assert math.isnan(latest["nan"]) and latest["inf"] == math.inf
    assert latest["v"] == 1.7976931348623157e308


def check_non_numeric_metric_is_rejected(store: MetadataStore) -> None:
    run = new_run(store, new_experiment(store))
    for bad in ("0.5", None, True, [1.0]):
        with pytest.raises(InvalidInputError):
            store.log_batch(run.id, metrics=[Metric("ok", 1.0, 0, 0), Metric("m", bad, 0, 0)])  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError):
        store.log_batch(run.id, metrics=[Metric("m", 1.0, 1.5, 0)])  # type: ignore[arg-type]
    assert store.get_metric_history(run.id, "ok") == []


def check_latest_metric_is_highest_step_then_latest_timestamp(store: MetadataStore) -> None:
    run = new_run(store, new_experiment(store))
    store.log_batch(run.id, metrics=[Metric("acc", 0.7, 5, 100), Metric("acc", 0.6, 3, 999)])
    store.log_batch(run.id, metrics=[Metric("acc", 0.1, 4, 2000)])  # older step: not latest
    assert store.get_run(run.id).metrics == {"acc": 0.7}
    store.log_batch(run.id, metrics=[Metric("acc", 0.8, 5, 101)])  # same step, later
    assert store.get_run(run.id).metrics == {"acc": 0.8}
    store.log_batch(run.id, metrics=[Metric("acc", 0.2, 5, 50)])  # same step, earlier
    assert store.get_run(run.id).metrics == {"acc": 0.8}


def check_longest_allowed_values_round_trip(store: MetadataStore) -> None:
    run = new_run(store, new_experiment(store))
    rng = random.Random(7)  # incompressible text: no index may hold the whole value
    param = "".join(rng.choice(string.ascii_letters + "äß€😀") for _ in range(6000))
    tag = "".join(rng.choice(string.printable + "日本") for _ in range(8000))
    key = "k" * 250
    store.log_batch(run.id, params=[Param(key, param)], tags=[Tag(key, tag)])
    stored = store.get_run(run.id)
    assert stored.params == {key: param} and stored.tags == {key: tag}
    found = search(store, stored.experiment_id, filter=f"params.`{key}` = '{param}'")
    assert [r.id for r in found] == [run.id]


# tags


def check_tags_overwrite(store: MetadataStore) -> None:
    run = new_run(store, new_experiment(store), tags={"stage": "dev"})
    store.log_batch(run.id, tags=[Tag("stage", "prod"), Tag("owner", "ana")])
    store.log_batch(run.id, tags=[Tag("owner", "bo"), Tag("owner", "cy")])  # last one wins
    assert store.get_run(run.id).tags == {"stage": "prod", "owner": "cy"}


# validation


def check_overlong_and_bad_keys_are_rejected_with_nothing_written(store: MetadataStore) -> None:
    run = new_run(store, new_experiment(store))
    good_metric, good_param, good_tag = Metric("good", 1.0, 0, 0), Param("good", "1"), Tag("g", "1")
    for metric in (Metric("k" * 251, 1.0, 0, 0), Metric("../escape", 1.0, 0, 0)):
        with pytest.raises(InvalidInputError):
            store.log_batch(
                run.id, metrics=[good_metric, metric], params=[good_param], tags=[good_tag]
            )
    for param in (
        Param("p" * 251, "v"),
        Param("bad\nkey", "v"),
        Param("", "v"),
        Param("long", "v" * 6001),
    ):
        with pytest.raises(InvalidInputError):
            store.log_batch(
                run.id, metrics=[good_metric], params=[good_param, param], tags=[good_tag]
            )
    for tag in (Tag("t" * 251, "v"), Tag("/abs", "v"), Tag("x", "v" * 8001)):
        with pytest.raises(InvalidInputError):
            store.log_batch(
                run.id, metrics=[good_metric], params=[good_param], tags=[good_tag, tag]
            )
    after = store.get_run(run.id)
    assert after.params == {} and after.metrics == {} and after.tags == {}


def check_artifact_paths_outside_the_run_are_rejected(store: MetadataStore) -> None:
    run = new_run(store, new_experiment(store))
    for bad in ("../x", "a/../../x", "/abs", "", "a\\b", "C:/x", "c:x", "C:\\x", "a\x00b"):
        with pytest.raises(InvalidInputError, match="artifact path"):
            store.add_artifacts(
                run.id, [ArtifactEntry("ok.txt", DIGEST, 1), ArtifactEntry(bad, DIGEST, 1)]
            )
    with pytest.raises(InvalidInputError):
        store.add_artifacts(run.id, [ArtifactEntry("neg.txt", DIGEST, -1)])
    for digest in ("sha256:" + "ab" * 32, "blake3:XYZ", "C:/x"):
        with pytest.raises(InvalidInputError, match=r"'bad-digest\.txt'"):
            store.add_artifacts(run.id, [ArtifactEntry("bad-digest.txt", digest, 1)])
    with pytest.raises(InvalidInputError):
        store.list_artifact_entries(run.id, "../x")
    assert store.list_artifact_entries(run.id) == []


# artifacts


def check_artifacts_are_listed_by_prefix(store: MetadataStore) -> None:
    run = new_run(store, new_experiment(store))
    paths = ["model/model.onnx", "model/conda.yaml", "model_card.md", "plots/roc.png", "Model/x"]
    store.add_artifacts(run.id, [ArtifactEntry(p, blob(i), i) for i, p in enumerate(paths)])
    assert [e.path for e in store.list_artifact_entries(run.id, "model")] == [
        "model/conda.yaml",
        "model/model.onnx",
    ]
    assert [e.path for e in store.list_artifact_entries(run.id, "model/")] == [
        "model/conda.yaml",
        "model/model.onnx",
    ]
    assert [e.path for e in store.list_artifact_entries(run.id, "model_card.md")] == [
        "model_card.md"
    ]
    assert len(store.list_artifact_entries(run.id)) == len(paths)
    assert store.list_artifact_entries(run.id, "nothing") == []
    assert store.list_artifact_entries(run.id, "plots/roc.png")[0] == ArtifactEntry(
        "plots/roc.png", blob(3), 3
    )


def check_artifact_logged_again_points_at_the_new_content(store: MetadataStore) -> None:
    run = new_run(store, new_experiment(store))
    store.add_artifacts(run.id, [ArtifactEntry("a/b.txt", DIGEST, 1)])
    new_digest = blob(2)
    store.add_artifacts(run.id, [ArtifactEntry("a/./b.txt", new_digest, 2)])
    assert store.list_artifact_entries(run.id) == [ArtifactEntry("a/b.txt", new_digest, 2)]


# idempotent batches and heartbeats


def check_same_batch_id_twice_stores_one_copy(store: MetadataStore) -> None:
    run = new_run(store, new_experiment(store))
    points = [Metric("loss", 1.0 / (step + 1), step, step) for step in range(50)]
    tags = [Tag("phase", "warmup")]
    for _ in range(2):  # the second time is a retry whose first answer was lost
        store.log_batch(run.id, metrics=points, tags=tags, batch_id="b-0001")
    store.log_batch(run.id, metrics=points[:1], batch_id="b-0002")  # a new id is new rows
    history = store.get_metric_history(run.id, "loss")
    assert [m.step for m in history] == [0, 0, *range(1, 50)]
    assert store.get_run(run.id).tags["phase"] == "warmup"
    other = new_run(store, new_experiment(store))  # batch ids belong to their run
    store.log_batch(other.id, metrics=points[:3], batch_id="b-0001")
    assert len(store.get_metric_history(other.id, "loss")) == 3


def check_bad_batch_id_is_rejected_with_nothing_written(store: MetadataStore) -> None:
    run = new_run(store, new_experiment(store))
    for bad in ("", "x" * 65, "a b", "../x"):
        with pytest.raises(InvalidInputError, match="batch id"):
            store.log_batch(run.id, metrics=[Metric("m", 1.0, 0, 0)], batch_id=bad)
    assert store.get_metric_history(run.id, "m") == []
