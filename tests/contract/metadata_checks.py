"""The behaviours every :class:`MetadataStore` backend must have, as plain check functions.

Like scikit-learn's estimator checks: ``metadata_store_checks()`` lists them and the contract
test runs each one against every backend. A check uses only the ``MetadataStore`` protocol (no
SQL, no backend internals) and does not assume the store is empty — it names what it creates
uniquely and scopes searches to its own experiments — so the same checks run against a shared
remote server.
"""

from __future__ import annotations

import math
import random
import string
import time
import uuid
from collections.abc import Callable

import pytest

from loopml.core.entities import ArtifactEntry, Metric, Param, Run, RunStatus, Tag
from loopml.core.errors import (
    AlreadyExistsError,
    ConflictError,
    FilterSyntaxError,
    InvalidInputError,
    NotFoundError,
)
from loopml.core.hashing import hash_bytes
from loopml.core.query_limits import MAX_FILTER_CLAUSES, MAX_ORDER_BY_KEYS
from loopml.stores.metadata.base import MAX_RESULTS_LIMIT, MetadataStore, NewRun, RunQuery

StoreCheck = Callable[[MetadataStore], None]
STORED_BLOB_SIZES = range(5)


def blob_content(size: int) -> bytes:
    """The bytes of the test blob of ``size`` bytes (``size`` in :data:`STORED_BLOB_SIZES`)."""
    return b"x" * size


def blob(size: int) -> str:
    """The digest of a blob of ``size`` bytes. A server refuses index entries pointing at
    blobs it does not hold, so the remote fixture uploads every one of them first."""
    return str(hash_bytes(blob_content(size)))


DIGEST = blob(1)  # an artifact entry of 1 byte


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def _experiment(store: MetadataStore) -> str:
    return store.create_experiment(_unique("exp")).id


def _run(
    store: MetadataStore,
    experiment_id: str,
    name: str = "run",
    *,
    start_time: int = 1_700_000_000_000,
    parent_run_id: str | None = None,
    tags: dict[str, str] | None = None,
    run_id: str | None = None,
) -> Run:
    new_run = NewRun(experiment_id, name, start_time, parent_run_id, tags or {}, run_id)
    return store.create_run(new_run)


def _search(store: MetadataStore, experiment_id: str, **kw: object) -> list[Run]:
    return store.search_runs(RunQuery(experiment_ids=[experiment_id], **kw)).items  # type: ignore[arg-type]


def _names(runs: list[Run]) -> list[str]:
    return [run.name for run in runs]


# experiments


def check_create_experiment_then_get_it_by_id_and_name(store: MetadataStore) -> None:
    name = _unique("exp")
    created = store.create_experiment(name, tags={"team": "fraud"})
    assert created.name == name and created.tags == {"team": "fraud"}
    assert store.get_experiment(created.id) == created
    assert store.get_experiment_by_name(name) == created
    assert store.get_experiment_by_name(_unique("missing")) is None


def check_duplicate_experiment_name_raises_already_exists(store: MetadataStore) -> None:
    name = _unique("exp")
    store.create_experiment(name)
    with pytest.raises(AlreadyExistsError, match=name):
        store.create_experiment(name)


def check_invalid_experiment_name_is_rejected(store: MetadataStore) -> None:
    for bad in ("", "   ", "x" * 251):
        with pytest.raises(InvalidInputError):
            store.create_experiment(bad)


def check_list_experiments_pages_cover_all_oldest_first(store: MetadataStore) -> None:
    created = [store.create_experiment(_unique(f"exp{i}")).id for i in range(5)]
    seen: list[str] = []
    times: list[int] = []
    token = None
    while True:
        page = store.list_experiments(max_results=2, page_token=token)
        assert len(page.items) <= 2
        seen += [e.id for e in page.items]
        times += [e.created_at for e in page.items]
        token = page.next_page_token
        if token is None:
            break
    assert len(seen) == len(set(seen)), "an experiment was listed twice"
    assert [i for i in seen if i in created] == created
    assert times == sorted(times)


# runs


def check_create_run_starts_running_without_end_time(store: MetadataStore) -> None:
    experiment_id = _experiment(store)
    run = _run(store, experiment_id, "first", tags={"owner": "ana"})
    assert run.status is RunStatus.RUNNING and run.end_time is None
    assert run.tags == {"owner": "ana"} and run.params == {} and run.metrics == {}
    assert store.get_run(run.id) == run


def check_create_run_with_preset_id_is_idempotent(store: MetadataStore) -> None:
    experiment_id = _experiment(store)
    run_id = uuid.uuid4().hex
    first = _run(store, experiment_id, "retried", run_id=run_id)
    again = _run(store, experiment_id, "retried", run_id=run_id)
    assert first.id == again.id == run_id
    assert len(_search(store, experiment_id)) == 1
    with pytest.raises(AlreadyExistsError):
        _run(store, _experiment(store), "elsewhere", run_id=run_id)


def check_nested_run_records_its_parent(store: MetadataStore) -> None:
    experiment_id = _experiment(store)
    parent = _run(store, experiment_id, "parent")
    child = _run(store, experiment_id, "child", parent_run_id=parent.id)
    assert store.get_run(child.id).parent_run_id == parent.id
    assert _names(_search(store, experiment_id, parent_run_id=parent.id)) == ["child"]
    with pytest.raises(NotFoundError, match="no-such-parent"):
        _run(store, experiment_id, "orphan", parent_run_id="no-such-parent")


def check_status_transitions_set_and_clear_end_time(store: MetadataStore) -> None:
    run = _run(store, _experiment(store))
    store.set_run_status(run.id, RunStatus.FINISHED, 1_700_000_005_000)
    finished = store.get_run(run.id)
    assert finished.status is RunStatus.FINISHED and finished.end_time == 1_700_000_005_000
    store.set_run_status(run.id, RunStatus.RUNNING, None)
    resumed = store.get_run(run.id)
    assert resumed.status is RunStatus.RUNNING and resumed.end_time is None
    store.set_run_status(run.id, RunStatus.FAILED, None)
    failed = store.get_run(run.id)
    assert failed.status is RunStatus.FAILED and failed.end_time is not None
    with pytest.raises(InvalidInputError):
        store.set_run_status(run.id, "DONE", None)  # type: ignore[arg-type]


def check_logging_to_a_finished_run_is_allowed(store: MetadataStore) -> None:
    run = _run(store, _experiment(store))
    store.set_run_status(run.id, RunStatus.FINISHED, None)
    store.log_batch(run.id, metrics=[Metric("late", 1.0, 0, 1)])  # a background flush
    assert store.get_run(run.id).metrics == {"late": 1.0}


def check_unknown_ids_raise_not_found_naming_the_id(store: MetadataStore) -> None:
    missing = "0" * 32
    calls: list[Callable[[], object]] = [
        lambda: store.get_experiment(missing),
        lambda: _run(store, missing),
        lambda: store.get_run(missing),
        lambda: store.set_run_status(missing, RunStatus.FINISHED, None),
        lambda: store.delete_run(missing),
        lambda: store.log_batch(missing, metrics=[Metric("m", 1.0, 0, 0)]),
        lambda: store.get_metric_history(missing, "m"),
        lambda: store.add_artifacts(missing, [ArtifactEntry("a.txt", DIGEST, 1)]),
        lambda: store.list_artifact_entries(missing),
    ]
    for call in calls:
        with pytest.raises(NotFoundError, match=missing):
            call()


# params


def check_param_set_again_to_the_same_value_is_a_noop(store: MetadataStore) -> None:
    run = _run(store, _experiment(store))
    store.log_batch(run.id, params=[Param("lr", "0.1")])
    store.log_batch(run.id, params=[Param("lr", "0.1"), Param("lr", "0.1")])
    assert store.get_run(run.id).params == {"lr": "0.1"}


def check_param_cannot_be_overwritten_with_a_different_value(store: MetadataStore) -> None:
    run = _run(store, _experiment(store))
    store.log_batch(run.id, params=[Param("lr", "0.1")])
    with pytest.raises(ConflictError) as caught:
        store.log_batch(run.id, params=[Param("lr", "0.2")])
    message = str(caught.value)
    assert "lr" in message and "0.1" in message and "0.2" in message
    assert store.get_run(run.id).params == {"lr": "0.1"}


def check_failed_batch_writes_nothing(store: MetadataStore) -> None:
    run = _run(store, _experiment(store))
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
    run = _run(store, _experiment(store))
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
    run = _run(store, _experiment(store))
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
    run = _run(store, _experiment(store))
    for bad in ("0.5", None, True, [1.0]):
        with pytest.raises(InvalidInputError):
            store.log_batch(run.id, metrics=[Metric("ok", 1.0, 0, 0), Metric("m", bad, 0, 0)])  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError):
        store.log_batch(run.id, metrics=[Metric("m", 1.0, 1.5, 0)])  # type: ignore[arg-type]
    assert store.get_metric_history(run.id, "ok") == []


def check_latest_metric_is_highest_step_then_latest_timestamp(store: MetadataStore) -> None:
    run = _run(store, _experiment(store))
    store.log_batch(run.id, metrics=[Metric("acc", 0.7, 5, 100), Metric("acc", 0.6, 3, 999)])
    store.log_batch(run.id, metrics=[Metric("acc", 0.1, 4, 2000)])  # older step: not latest
    assert store.get_run(run.id).metrics == {"acc": 0.7}
    store.log_batch(run.id, metrics=[Metric("acc", 0.8, 5, 101)])  # same step, later
    assert store.get_run(run.id).metrics == {"acc": 0.8}
    store.log_batch(run.id, metrics=[Metric("acc", 0.2, 5, 50)])  # same step, earlier
    assert store.get_run(run.id).metrics == {"acc": 0.8}


def check_longest_allowed_values_round_trip(store: MetadataStore) -> None:
    run = _run(store, _experiment(store))
    rng = random.Random(7)  # incompressible text: no index may hold the whole value
    param = "".join(rng.choice(string.ascii_letters + "äß€😀") for _ in range(6000))
    tag = "".join(rng.choice(string.printable + "日本") for _ in range(8000))
    key = "k" * 250
    store.log_batch(run.id, params=[Param(key, param)], tags=[Tag(key, tag)])
    stored = store.get_run(run.id)
    assert stored.params == {key: param} and stored.tags == {key: tag}
    found = _search(store, stored.experiment_id, filter=f"params.`{key}` = '{param}'")
    assert [r.id for r in found] == [run.id]


# tags


def check_tags_overwrite(store: MetadataStore) -> None:
    run = _run(store, _experiment(store), tags={"stage": "dev"})
    store.log_batch(run.id, tags=[Tag("stage", "prod"), Tag("owner", "ana")])
    store.log_batch(run.id, tags=[Tag("owner", "bo"), Tag("owner", "cy")])  # last one wins
    assert store.get_run(run.id).tags == {"stage": "prod", "owner": "cy"}


# validation


def check_overlong_and_bad_keys_are_rejected_with_nothing_written(store: MetadataStore) -> None:
    run = _run(store, _experiment(store))
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
    run = _run(store, _experiment(store))
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
    run = _run(store, _experiment(store))
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
    run = _run(store, _experiment(store))
    store.add_artifacts(run.id, [ArtifactEntry("a/b.txt", DIGEST, 1)])
    new_digest = blob(2)
    store.add_artifacts(run.id, [ArtifactEntry("a/./b.txt", new_digest, 2)])
    assert store.list_artifact_entries(run.id) == [ArtifactEntry("a/b.txt", new_digest, 2)]


# delete


def check_delete_run_cascades_to_children(store: MetadataStore) -> None:
    experiment_id = _experiment(store)
    root = _run(store, experiment_id, "root")
    child = _run(store, experiment_id, "child", parent_run_id=root.id)
    grandchild = _run(store, experiment_id, "grandchild", parent_run_id=child.id)
    keep = _run(store, experiment_id, "keep")
    for run in (root, child, grandchild, keep):
        store.log_batch(
            run.id, metrics=[Metric("m", 1.0, 0, 0)], params=[Param("p", "1")], tags=[Tag("t", "1")]
        )
        store.add_artifacts(run.id, [ArtifactEntry("f.txt", DIGEST, 1)])
    store.delete_run(root.id)
    for run in (root, child, grandchild):
        with pytest.raises(NotFoundError):
            store.get_run(run.id)
    assert _names(_search(store, experiment_id)) == ["keep"]
    assert store.get_run(keep.id).params == {"p": "1"}
    assert len(store.get_metric_history(keep.id, "m")) == 1


# search


def _search_fixture(store: MetadataStore) -> str:
    """Four runs: a (auc .9, lr .1, FINISHED), b (auc .7), c (auc NaN), d (no auc)."""
    experiment_id = _experiment(store)
    specs = [
        ("a", 0.9, "0.1", "prod", RunStatus.FINISHED),
        ("b", 0.7, "0.01", "dev", RunStatus.RUNNING),
        ("c", math.nan, "0.1", "Prod", RunStatus.FAILED),
        ("d", None, None, None, RunStatus.RUNNING),
    ]
    for i, (name, auc, lr, stage, status) in enumerate(specs):
        run = _run(store, experiment_id, f"model-{name}", start_time=1_700_000_000_000 + i)
        store.log_batch(
            run.id,
            metrics=[] if auc is None else [Metric("auc", auc, 0, 0)],
            params=[] if lr is None else [Param("lr", lr)],
            tags=[] if stage is None else [Tag("stage", stage)],
        )
        if status is not RunStatus.RUNNING:
            store.set_run_status(run.id, status, None)
    return experiment_id


def check_search_default_order_is_newest_start_time_first(store: MetadataStore) -> None:
    experiment_id = _search_fixture(store)
    assert _names(_search(store, experiment_id)) == ["model-d", "model-c", "model-b", "model-a"]


def check_search_filters_by_metric_param_tag_and_attribute(store: MetadataStore) -> None:
    experiment_id = _search_fixture(store)

    def names(text: str) -> set[str]:
        return {run.name[-1] for run in _search(store, experiment_id, filter=text)}

    assert names("metrics.auc > 0.8") == {"a"}
    assert names("metrics.auc >= 0.7") == {"a", "b"}
    assert names("metrics.auc < 1 and params.lr = '0.1'") == {"a"}
    assert names("params.lr = '0.1'") == {"a", "c"}
    assert names("params.lr != '0.1'") == {"b"}
    assert names("tags.stage = 'prod'") == {"a"}
    assert names("status = 'FINISHED'") == {"a"}
    assert names("attributes.status != 'RUNNING'") == {"a", "c"}
    assert names("name = 'model-b'") == {"b"}
    assert names("start_time >= 1700000000002") == {"c", "d"}
    assert names("metrics.missing > 0") == set()


def check_search_like_is_case_sensitive_and_ilike_is_not(store: MetadataStore) -> None:
    experiment_id = _search_fixture(store)

    def names(text: str) -> set[str]:
        return {run.name[-1] for run in _search(store, experiment_id, filter=text)}

    assert names("tags.stage like 'pro%'") == {"a"}
    assert names("tags.stage ilike 'pro%'") == {"a", "c"}
    assert names("tags.stage like 'P_od'") == {"c"}
    assert names("name like 'model-%'") == {"a", "b", "c", "d"}
    assert names("name like 'model\\\\_%'") == set()  # escaped underscore is literal

    # characters special to other pattern languages (GLOB, regex) are plain characters
    other = _experiment(store)
    run = _run(store, other, "special")
    store.log_batch(run.id, tags=[Tag("pattern", "a*b[1]?.c"), Tag("under", "x_y%z")])
    for text, found in [
        ("tags.pattern like 'a*b[1]?.c'", True),
        ("tags.pattern like 'a*b%'", True),
        ("tags.pattern like 'a__b%'", False),
        ("tags.pattern like 'aXb%'", False),
        ("tags.pattern ilike 'A*B[1]_._'", True),
        ("tags.under like 'x\\\\_y\\\\%z'", True),
        ("tags.under like 'x\\\\_y\\\\%Z'", False),
    ]:
        assert bool(_search(store, other, filter=text)) is found, text


def check_search_orders_by_metric_with_missing_values_last(store: MetadataStore) -> None:
    experiment_id = _search_fixture(store)
    ascending = _names(_search(store, experiment_id, order_by=["metrics.auc ASC"]))
    descending = _names(_search(store, experiment_id, order_by=["metrics.auc DESC"]))
    assert ascending[:2] == ["model-b", "model-a"]
    assert descending[:2] == ["model-a", "model-b"]
    assert set(ascending[2:]) == set(descending[2:]) == {"model-c", "model-d"}
    by_param = _names(_search(store, experiment_id, order_by=["params.lr"]))
    assert by_param[0] == "model-b" and by_param[-1] == "model-d"
    assert _names(_search(store, experiment_id, order_by=["name DESC"]))[0] == "model-d"


def check_search_pages_cover_every_run_exactly_once(store: MetadataStore) -> None:
    experiment_id = _experiment(store)
    created = {_run(store, experiment_id, f"r{i}", start_time=1_000 + i % 3).id for i in range(11)}
    for order_by in ([], ["metrics.none DESC"], ["start_time"]):
        seen: list[str] = []
        token = None
        while True:
            query = RunQuery(
                experiment_ids=[experiment_id], max_results=3, page_token=token, order_by=order_by
            )
            page = store.search_runs(query)
            seen += [run.id for run in page.items]
            token = page.next_page_token
            if token is None:
                break
        assert sorted(seen) == sorted(created), order_by


def check_search_rejects_a_bad_filter_with_its_position(store: MetadataStore) -> None:
    experiment_id = _experiment(store)
    with pytest.raises(FilterSyntaxError) as caught:
        _search(store, experiment_id, filter="metrics.auc > 0.5 or params.x = '1'")
    assert caught.value.position == 18
    with pytest.raises(FilterSyntaxError):
        _search(store, experiment_id, filter="metrics.auc > 'high'")
    with pytest.raises(FilterSyntaxError):
        _search(store, experiment_id, order_by=["metrics.auc sideways"])


def check_search_max_results_and_page_token_are_checked(store: MetadataStore) -> None:
    experiment_id = _experiment(store)
    _run(store, experiment_id)
    for bad in (0, -1, MAX_RESULTS_LIMIT + 1):
        with pytest.raises(InvalidInputError):
            _search(store, experiment_id, max_results=bad)
    assert len(_search(store, experiment_id, max_results=MAX_RESULTS_LIMIT)) == 1
    for token in ("garbage!", "eyJrIjoicnVucyJ9"):
        with pytest.raises(InvalidInputError):
            _search(store, experiment_id, page_token=token)


def check_search_refuses_more_order_keys_or_clauses_than_the_limits(store: MetadataStore) -> None:
    # SQLite crashed the process on 31 order keys and refused 5,000 clauses as a backend error
    experiment_id = _experiment(store)
    for i in range(2):
        run = _run(store, experiment_id, f"r{i}", start_time=1_000 + i)
        metrics = [Metric(f"m{k}", float(i), 0, 0) for k in range(MAX_ORDER_BY_KEYS)]
        store.log_batch(run.id, metrics=metrics, tags=[Tag("t", "x")])
    orders = [f"metrics.m{k} DESC" for k in range(MAX_ORDER_BY_KEYS)]
    clauses = " and ".join(["metrics.m0 >= 0", "tags.t = 'x'"] * (MAX_FILTER_CLAUSES // 2))
    at_limits = _search(store, experiment_id, filter=clauses, order_by=orders)
    assert _names(at_limits) == ["r1", "r0"]
    for count in (MAX_ORDER_BY_KEYS + 1, 31, 500):
        order_by = [f"metrics.m{k % MAX_ORDER_BY_KEYS}" for k in range(count)]
        with pytest.raises(InvalidInputError, match=f"order_by has {count} keys; at most 10"):
            _search(store, experiment_id, order_by=order_by)
    for count in (MAX_FILTER_CLAUSES + 1, 5_000):
        text = " and ".join(["metrics.m0 >= 0"] * count)
        with pytest.raises(InvalidInputError, match="at most 100 are allowed"):
            _search(store, experiment_id, filter=text)


# events


def check_events_are_listed_in_append_order(store: MetadataStore) -> None:
    target = _unique("model")
    appended = [
        store.append_event(actor="ana", action="promote", target=target, payload={"n": i, "x": [1]})
        for i in range(5)
    ]
    assert [e.payload for e in appended] == [{"n": i, "x": [1]} for i in range(5)]
    listed = []
    token = None
    while True:
        page = store.list_events(max_results=2, page_token=token)
        listed += [e for e in page.items if e.target == target]
        token = page.next_page_token
        if token is None:
            break
    assert listed == appended
    with pytest.raises(InvalidInputError):
        store.append_event(actor="ana", action="x", target=target, payload={"bad": math.nan})


# idempotent batches and heartbeats


def check_same_batch_id_twice_stores_one_copy(store: MetadataStore) -> None:
    run = _run(store, _experiment(store))
    points = [Metric("loss", 1.0 / (step + 1), step, step) for step in range(50)]
    tags = [Tag("phase", "warmup")]
    for _ in range(2):  # the second time is a retry whose first answer was lost
        store.log_batch(run.id, metrics=points, tags=tags, batch_id="b-0001")
    store.log_batch(run.id, metrics=points[:1], batch_id="b-0002")  # a new id is new rows
    history = store.get_metric_history(run.id, "loss")
    assert [m.step for m in history] == [0, 0, *range(1, 50)]
    assert store.get_run(run.id).tags["phase"] == "warmup"
    other = _run(store, _experiment(store))  # batch ids belong to their run
    store.log_batch(other.id, metrics=points[:3], batch_id="b-0001")
    assert len(store.get_metric_history(other.id, "loss")) == 3


def check_bad_batch_id_is_rejected_with_nothing_written(store: MetadataStore) -> None:
    run = _run(store, _experiment(store))
    for bad in ("", "x" * 65, "a b", "../x"):
        with pytest.raises(InvalidInputError, match="batch id"):
            store.log_batch(run.id, metrics=[Metric("m", 1.0, 0, 0)], batch_id=bad)
    assert store.get_metric_history(run.id, "m") == []


def check_heartbeat_moves_heartbeat_at_of_a_running_run_only(store: MetadataStore) -> None:
    run = _run(store, _experiment(store))
    assert run.heartbeat_at is not None
    assert store.get_run(run.id).heartbeat_at == run.heartbeat_at
    time.sleep(0.005)
    store.heartbeat_run(run.id)
    beat = store.get_run(run.id).heartbeat_at
    assert beat is not None and beat > run.heartbeat_at
    time.sleep(0.005)
    store.log_batch(run.id, metrics=[Metric("m", 1.0, 0, 0)])  # a beat only when stale
    logged = store.get_run(run.id).heartbeat_at
    assert logged == beat
    store.set_run_status(run.id, RunStatus.FINISHED, None)
    store.heartbeat_run(run.id)  # ended: nothing moves
    assert store.get_run(run.id).heartbeat_at == logged
    with pytest.raises(NotFoundError):
        store.heartbeat_run("no-such-run")


def check_close_lapsed_runs_kills_silent_running_runs_at_their_last_beat(
    store: MetadataStore,
) -> None:
    experiment = _experiment(store)
    silent, ended = _run(store, experiment, "silent"), _run(store, experiment, "ended")
    store.set_run_status(ended.id, RunStatus.FINISHED, None)
    time.sleep(0.005)
    assert silent.id not in {r.id for r in store.close_lapsed_runs(3_600_000, dry_run=True)}
    listed = {r.id for r in store.close_lapsed_runs(0, dry_run=True)}
    assert silent.id in listed and ended.id not in listed
    assert store.get_run(silent.id).status is RunStatus.RUNNING  # a dry run changes nothing
    closed = {r.id: r for r in store.close_lapsed_runs(0)}
    assert ended.id not in closed
    assert closed[silent.id].status is RunStatus.KILLED
    assert closed[silent.id].end_time == silent.heartbeat_at
    stored = store.get_run(silent.id)
    assert (stored.status, stored.end_time) == (RunStatus.KILLED, silent.heartbeat_at)
    assert store.get_run(ended.id).status is RunStatus.FINISHED
    with pytest.raises(InvalidInputError):
        store.close_lapsed_runs(-1)


def metadata_store_checks() -> list[StoreCheck]:
    """Every check, in a stable order (the names say the behaviour)."""
    return [
        value for name, value in globals().items() if name.startswith("check_") and callable(value)
    ]
