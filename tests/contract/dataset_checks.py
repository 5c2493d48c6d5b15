"""The dataset behaviours every :class:`MetadataStore` backend must have, as plain checks.

Like :mod:`tests.contract.metadata_checks`: ``dataset_store_checks()`` lists them, each uses
only the ``MetadataStore`` protocol and names its datasets uniquely, so the checks also run
against a store shared by several checks.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable

import pytest

from loopml.core.entities import DatasetInput, DatasetVersion
from loopml.core.errors import InvalidInputError, NotFoundError
from loopml.stores.metadata.base import MetadataStore, NewRun

StoreCheck = Callable[[MetadataStore], None]
CREATED_AT = 1_700_000_000_000
THREADS = 8


def _name() -> str:
    return f"ds-{uuid.uuid4().hex[:10]}"


def _tree() -> str:
    return "blake3:" + uuid.uuid4().hex * 2


def _new(dataset: str, tree: str, **fields: object) -> DatasetVersion:
    return DatasetVersion(dataset, 0, tree, CREATED_AT, **fields)  # type: ignore[arg-type]


def _add(store: MetadataStore, dataset: str, tree: str | None = None) -> DatasetVersion:
    version, added = store.add_dataset_version(_new(dataset, tree or _tree()))
    assert added
    return version


def _run_id(store: MetadataStore) -> str:
    experiment = store.create_experiment(f"exp-{uuid.uuid4().hex[:10]}")
    return store.create_run(NewRun(experiment.id, "run", CREATED_AT)).id


def check_versions_are_numbered_one_two_three(store: MetadataStore) -> None:
    name = _name()
    assert [_add(store, name).version for _ in range(3)] == [1, 2, 3]


def check_adding_the_newest_tree_again_adds_no_version(store: MetadataStore) -> None:
    name = _name()
    tree = _tree()
    _add(store, name)
    newest = _add(store, name, tree)
    again, added = store.add_dataset_version(_new(name, tree, message="again"))
    assert (again, added) == (newest, False)
    assert [v.version for v in store.list_dataset_versions(name)] == [1, 2]


def check_adding_an_older_tree_again_adds_a_new_version(store: MetadataStore) -> None:
    name = _name()
    old_tree = _tree()
    _add(store, name, old_tree)
    _add(store, name)
    third, added = store.add_dataset_version(_new(name, old_tree))
    assert added and third.version == 3 and third.tree_digest == old_tree


def check_get_returns_the_newest_or_the_version_asked_for(store: MetadataStore) -> None:
    name = _name()
    run_id = _run_id(store)
    profiles = _tree()
    first, _ = store.add_dataset_version(
        _new(
            name,
            _tree(),
            message="first",
            size=10,
            file_count=2,
            profiles_digest=profiles,
            source="data/train",
        )
    )
    second, _ = store.add_dataset_version(_new(name, _tree(), run_id=run_id))
    assert store.get_dataset_version(name) == second
    assert store.get_dataset_version(name, 1) == first
    assert (first.message, first.size, first.file_count) == ("first", 10, 2)
    assert first.profiles_digest == profiles and first.run_id is None
    assert first.source == "data/train" and second.source is None
    assert second.run_id == run_id and second.profiles_digest is None


def check_not_found_names_the_dataset_and_lists_its_versions(store: MetadataStore) -> None:
    name = _name()
    for _ in range(3):
        _add(store, name)
    with pytest.raises(NotFoundError) as missing_version:
        store.get_dataset_version(name, 7)
    assert f"Dataset '{name}' has no version 7; versions: 1, 2, 3." in str(missing_version.value)
    unknown = _name()
    with pytest.raises(NotFoundError, match=unknown):
        store.get_dataset_version(unknown)
    for call in (
        lambda: store.list_dataset_versions(f"{name}-x"),
        lambda: store.delete_dataset_version(name, 7),
        lambda: store.delete_dataset_version(f"{name}-x"),
    ):
        with pytest.raises(NotFoundError):
            call()


def check_list_gives_every_version_or_each_datasets_newest(store: MetadataStore) -> None:
    first, second = sorted([_name(), _name()])
    for _ in range(2):
        _add(store, first)
    newest_second = [_add(store, second) for _ in range(3)][-1]
    assert [v.version for v in store.list_dataset_versions(first)] == [1, 2]
    mine = [v for v in store.list_dataset_versions() if v.dataset in (first, second)]
    assert [(v.dataset, v.version) for v in mine] == [(first, 2), (second, 3)]
    assert mine[1] == newest_second
    names = [v.dataset for v in store.list_dataset_versions()]
    assert names == sorted(names)


def check_deleted_version_numbers_are_never_reused(store: MetadataStore) -> None:
    name = _name()
    for _ in range(3):
        _add(store, name)
    store.delete_dataset_version(name, 3)
    store.delete_dataset_version(name, 1)
    assert [v.version for v in store.list_dataset_versions(name)] == [2]
    assert _add(store, name).version == 4
    store.delete_dataset_version(name, 2)
    store.delete_dataset_version(name, 4)
    assert store.list_dataset_versions(name) == []
    with pytest.raises(NotFoundError):
        store.get_dataset_version(name)
    assert _add(store, name).version == 5


def check_deleting_a_dataset_removes_every_version(store: MetadataStore) -> None:
    name = _name()
    run_id = _run_id(store)
    for _ in range(2):
        _add(store, name)
    store.add_dataset_inputs(run_id, [(name, 1)])
    store.delete_dataset_version(name)
    with pytest.raises(NotFoundError):
        store.get_dataset_version(name, 1)
    assert name not in {v.dataset for v in store.list_dataset_versions()}
    assert store.list_dataset_inputs(run_id=run_id) == []


def check_bad_input_is_rejected_and_nothing_written(store: MetadataStore) -> None:
    name = _name()
    for bad in ("", " ", f"{name}@1", f"{name}/x", f"{name} x", f"{name}\tx", "x" * 251):
        with pytest.raises(InvalidInputError):
            store.add_dataset_version(_new(bad, _tree()))
    with pytest.raises(InvalidInputError, match=r"letters, digits and _ - \."):
        store.add_dataset_version(_new(f"{name}@1", _tree()))
    for bad_fields in (
        {"tree": "not-a-digest"},
        {"tree": _tree(), "profiles_digest": "md5:0"},
        {"tree": _tree(), "size": -1},
        {"tree": _tree(), "run_id": ""},
    ):
        tree = str(bad_fields.pop("tree"))
        with pytest.raises(InvalidInputError):
            store.add_dataset_version(_new(name, tree, **bad_fields))
    with pytest.raises(NotFoundError):
        store.get_dataset_version(name)
    assert name not in {v.dataset for v in store.list_dataset_versions()}
    _add(store, name)
    for bad_version in (0, -1, True, "1"):
        with pytest.raises(InvalidInputError):
            store.get_dataset_version(name, bad_version)  # type: ignore[arg-type]


def check_a_version_from_an_unknown_run_is_refused(store: MetadataStore) -> None:
    name = _name()
    with pytest.raises(NotFoundError):
        store.add_dataset_version(_new(name, _tree(), run_id=f"no-such-run-{uuid.uuid4().hex}"))
    assert name not in {v.dataset for v in store.list_dataset_versions()}


def check_inputs_are_idempotent_and_listed_by_run_and_by_dataset(store: MetadataStore) -> None:
    first, second = sorted([_name(), _name()])
    for _ in range(2):
        _add(store, first)
    _add(store, second)
    run_a, run_b = _run_id(store), _run_id(store)
    store.add_dataset_inputs(run_a, [(first, 1), (second, 1), (first, 1)])
    store.add_dataset_inputs(run_a, [(first, 1)])
    store.add_dataset_inputs(run_b, [(first, 2)])
    store.add_dataset_inputs(run_b, [])
    assert store.list_dataset_inputs(run_id=run_a) == [
        DatasetInput(run_a, first, 1),
        DatasetInput(run_a, second, 1),
    ]
    by_dataset = store.list_dataset_inputs(dataset=first)
    assert sorted(by_dataset, key=lambda e: e.version) == [
        DatasetInput(run_a, first, 1),
        DatasetInput(run_b, first, 2),
    ]
    assert store.list_dataset_inputs(run_id=run_b, dataset=second) == []


def check_inputs_naming_unknown_things_raise_not_found(store: MetadataStore) -> None:
    name = _name()
    _add(store, name)
    run_id = _run_id(store)
    with pytest.raises(NotFoundError):
        store.add_dataset_inputs(f"no-such-run-{uuid.uuid4().hex}", [(name, 1)])
    with pytest.raises(NotFoundError):
        store.add_dataset_inputs(run_id, [(name, 1), (_name(), 1)])
    with pytest.raises(NotFoundError, match=f"'{name}' has no version 2; versions: 1"):
        store.add_dataset_inputs(run_id, [(name, 1), (name, 2)])
    assert store.list_dataset_inputs(run_id=run_id) == []  # all or nothing
    with pytest.raises(InvalidInputError):
        store.add_dataset_inputs(run_id, [(name, 0)])


def check_deleting_a_run_removes_its_inputs_and_keeps_its_versions(
    store: MetadataStore,
) -> None:
    name = _name()
    run_id = _run_id(store)
    produced, _ = store.add_dataset_version(_new(name, _tree(), run_id=run_id))
    store.add_dataset_inputs(run_id, [(name, 1)])
    store.delete_run(run_id)
    assert store.list_dataset_inputs(dataset=name) == []
    assert store.get_dataset_version(name, 1).run_id is None
    assert produced.run_id == run_id


def check_deleting_a_version_removes_its_inputs(store: MetadataStore) -> None:
    name = _name()
    for _ in range(2):
        _add(store, name)
    run_id = _run_id(store)
    store.add_dataset_inputs(run_id, [(name, 1), (name, 2)])
    store.delete_dataset_version(name, 1)
    assert store.list_dataset_inputs(run_id=run_id) == [DatasetInput(run_id, name, 2)]


def check_concurrent_adds_get_distinct_consecutive_numbers(store: MetadataStore) -> None:
    name = _name()
    start = threading.Barrier(THREADS)
    numbers: list[int] = []
    errors: list[BaseException] = []

    def add() -> None:
        try:
            start.wait(timeout=30)
            numbers.append(_add(store, name).version)
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=add) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert sorted(numbers) == list(range(1, THREADS + 1))
    assert [v.version for v in store.list_dataset_versions(name)] == list(range(1, THREADS + 1))


def dataset_store_checks() -> list[StoreCheck]:
    """Every check in this module, in source order."""
    return [
        check for name, check in globals().items() if name.startswith("check_") and callable(check)
    ]
