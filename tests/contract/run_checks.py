"""Metadata store checks of experiments and runs: creating, nesting, status changes, deletion,
heartbeats and closing runs that went silent.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import pytest

from loopml.core.entities import ArtifactEntry, Metric, Param, RunStatus, Tag
from loopml.core.errors import (
    AlreadyExistsError,
    InvalidInputError,
    NotFoundError,
)
from loopml.stores.metadata.base import MetadataStore
from tests.contract.metadata_check_data import (
    DIGEST,
    names,
    new_experiment,
    new_run,
    search,
    unique_name,
)

# experiments


def check_create_experiment_then_get_it_by_id_and_name(store: MetadataStore) -> None:
    name = unique_name("exp")
    created = store.create_experiment(name, tags={"team": "fraud"})
    assert created.name == name and created.tags == {"team": "fraud"}
    assert store.get_experiment(created.id) == created
    assert store.get_experiment_by_name(name) == created
    assert store.get_experiment_by_name(unique_name("missing")) is None


def check_duplicate_experiment_name_raises_already_exists(store: MetadataStore) -> None:
    name = unique_name("exp")
    store.create_experiment(name)
    with pytest.raises(AlreadyExistsError, match=name):
        store.create_experiment(name)


def check_invalid_experiment_name_is_rejected(store: MetadataStore) -> None:
    for bad in ("", "   ", "x" * 251):
        with pytest.raises(InvalidInputError):
            store.create_experiment(bad)


def check_list_experiments_pages_cover_all_oldest_first(store: MetadataStore) -> None:
    created = [store.create_experiment(unique_name(f"exp{i}")).id for i in range(5)]
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
    experiment_id = new_experiment(store)
    run = new_run(store, experiment_id, "first", tags={"owner": "ana"})
    assert run.status is RunStatus.RUNNING and run.end_time is None
    assert run.tags == {"owner": "ana"} and run.params == {} and run.metrics == {}
    assert store.get_run(run.id) == run


def check_create_run_with_preset_id_is_idempotent(store: MetadataStore) -> None:
    experiment_id = new_experiment(store)
    run_id = uuid.uuid4().hex
    first = new_run(store, experiment_id, "retried", run_id=run_id)
    again = new_run(store, experiment_id, "retried", run_id=run_id)
    assert first.id == again.id == run_id
    assert len(search(store, experiment_id)) == 1
    with pytest.raises(AlreadyExistsError):
        new_run(store, new_experiment(store), "elsewhere", run_id=run_id)


def check_nested_run_records_its_parent(store: MetadataStore) -> None:
    experiment_id = new_experiment(store)
    parent = new_run(store, experiment_id, "parent")
    child = new_run(store, experiment_id, "child", parent_run_id=parent.id)
    assert store.get_run(child.id).parent_run_id == parent.id
    assert names(search(store, experiment_id, parent_run_id=parent.id)) == ["child"]
    with pytest.raises(NotFoundError, match="no-such-parent"):
        new_run(store, experiment_id, "orphan", parent_run_id="no-such-parent")


def check_status_transitions_set_and_clear_end_time(store: MetadataStore) -> None:
    run = new_run(store, new_experiment(store))
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
    run = new_run(store, new_experiment(store))
    store.set_run_status(run.id, RunStatus.FINISHED, None)
    store.log_batch(run.id, metrics=[Metric("late", 1.0, 0, 1)])  # a background flush
    assert store.get_run(run.id).metrics == {"late": 1.0}


def check_unknown_ids_raise_not_found_naming_the_id(store: MetadataStore) -> None:
    missing = "0" * 32
    calls: list[Callable[[], object]] = [
        lambda: store.get_experiment(missing),
        lambda: new_run(store, missing),
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


# delete


def check_delete_run_cascades_to_children(store: MetadataStore) -> None:
    experiment_id = new_experiment(store)
    root = new_run(store, experiment_id, "root")
    child = new_run(store, experiment_id, "child", parent_run_id=root.id)
    grandchild = new_run(store, experiment_id, "grandchild", parent_run_id=child.id)
    keep = new_run(store, experiment_id, "keep")
    for run in (root, child, grandchild, keep):
        store.log_batch(
            run.id, metrics=[Metric("m", 1.0, 0, 0)], params=[Param("p", "1")], tags=[Tag("t", "1")]
        )
        store.add_artifacts(run.id, [ArtifactEntry("f.txt", DIGEST, 1)])
    store.delete_run(root.id)
    for run in (root, child, grandchild):
        with pytest.raises(NotFoundError):
            store.get_run(run.id)
    assert names(search(store, experiment_id)) == ["keep"]
    assert store.get_run(keep.id).params == {"p": "1"}
    assert len(store.get_metric_history(keep.id, "m")) == 1


def check_heartbeat_moves_heartbeat_at_of_a_running_run_only(store: MetadataStore) -> None:
    run = new_run(store, new_experiment(store))
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
    experiment = new_experiment(store)
    silent, ended = new_run(store, experiment, "silent"), new_run(store, experiment, "ended")
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
