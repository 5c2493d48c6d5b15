"""The model registry behaviours every :class:`MetadataStore` backend must have, as plain checks.

Like :mod:`tests.contract.dataset_checks`: ``model_store_checks()`` lists them, each uses only
the ``MetadataStore`` protocol and names its models uniquely, so the checks also run against a
store shared by several checks.
"""

from __future__ import annotations

import math
import threading
import uuid
from collections.abc import Callable

import pytest

from loopml.core.entities import AliasChange, ModelVersion
from loopml.core.errors import ConflictError, InvalidInputError, NotFoundError
from loopml.stores.metadata.base import MetadataStore, NewRun

StoreCheck = Callable[[MetadataStore], None]
CREATED_AT = 1_700_000_000_000
THREADS = 8


def _name() -> str:
    return f"model-{uuid.uuid4().hex[:10]}"


def _tree() -> str:
    return "blake3:" + uuid.uuid4().hex * 2


def _new(model: str, **fields: object) -> ModelVersion:
    values: dict[str, object] = {"flavor": "sklearn", "tree_digest": _tree(), **fields}
    return ModelVersion(model, 0, created_at=CREATED_AT, **values)  # type: ignore[arg-type]


def _add(store: MetadataStore, model: str, **fields: object) -> ModelVersion:
    return store.add_model_version(_new(model, **fields))


def _run_id(store: MetadataStore) -> str:
    experiment = store.create_experiment(f"exp-{uuid.uuid4().hex[:10]}")
    return store.create_run(NewRun(experiment.id, "run", CREATED_AT)).id


def _moves(changes: list[AliasChange]) -> list[tuple[str, int | None, int | None, str]]:
    return [(c.alias, c.from_version, c.to_version, c.reason) for c in changes]


def check_versions_are_numbered_one_two_three(store: MetadataStore) -> None:
    name = _name()
    assert [_add(store, name).version for _ in range(3)] == [1, 2, 3]
    assert [v.version for v in store.list_model_versions(name)] == [1, 2, 3]


def check_every_field_round_trips(store: MetadataStore) -> None:
    name = _name()
    run_id = _run_id(store)
    signature = {
        "inputs": [{"name": "age", "type": "double"}, {"name": "city", "type": "string"}],
        "outputs": [{"type": "long"}],
        "params": None,
    }
    added = _add(
        store,
        name,
        flavor="xgboost",
        run_id=run_id,
        signature=signature,
        metrics={"auc": 0.91, "rows": 1000},
        datasets=("iris@3", "extra.v2@1"),
        requirements=("scikit-learn==1.5.2", "numpy>=2"),
        description="first cut",
        tags={"team": "risk", "stage/x": "a b"},
        created_by="alice",
    )
    assert added.version == 1 and added.model == name
    assert added.metrics == {"auc": 0.91, "rows": 1000.0}
    assert isinstance(added.metrics["rows"], float)
    stored = store.get_model_version(name, 1)
    assert stored == added
    assert stored.signature == signature
    assert stored.datasets == ("iris@3", "extra.v2@1")
    assert stored.requirements == ("scikit-learn==1.5.2", "numpy>=2")
    assert (stored.flavor, stored.run_id, stored.created_by) == ("xgboost", run_id, "alice")
    assert (stored.description, dict(stored.tags)) == (
        "first cut",
        {"team": "risk", "stage/x": "a b"},
    )
    bare = _add(store, name)
    assert bare.signature is None and bare.metrics == {} and bare.datasets == ()
    assert store.get_model_version(name) == bare


def check_get_returns_the_newest_or_the_version_asked_for(store: MetadataStore) -> None:
    name = _name()
    first = _add(store, name, description="one")
    second = _add(store, name, description="two")
    assert store.get_model_version(name) == second
    assert store.get_model_version(name, None) == second
    assert store.get_model_version(name, 1) == first
    assert store.list_model_versions(name) == [first, second]


def check_registered_models_know_their_newest_version_and_aliases(store: MetadataStore) -> None:
    first, second = sorted([_name(), _name()])
    _add(store, first)
    _add(store, second)
    _add(store, second)
    store.set_model_alias(second, "champion", 1)
    model = store.get_registered_model(second)
    assert (model.name, model.latest_version, dict(model.aliases)) == (
        second,
        2,
        {"champion": 1},
    )
    assert model.created_at <= model.updated_at
    mine = [m for m in store.list_registered_models() if m.name in (first, second)]
    assert [(m.name, m.latest_version) for m in mine] == [(first, 1), (second, 2)]
    names = [m.name for m in store.list_registered_models()]
    assert names == sorted(names)


def check_deleted_version_numbers_are_never_reused(store: MetadataStore) -> None:
    name = _name()
    for _ in range(3):
        _add(store, name)
    store.delete_model_version(name, 3)
    store.delete_model_version(name, 1)
    assert [v.version for v in store.list_model_versions(name)] == [2]
    assert store.get_registered_model(name).latest_version == 2
    assert _add(store, name).version == 4
    store.delete_model_version(name, 2)
    store.delete_model_version(name, 4)
    assert store.list_model_versions(name) == []
    assert store.get_registered_model(name).latest_version is None
    with pytest.raises(NotFoundError, match="no versions"):
        store.get_model_version(name)
    assert _add(store, name).version == 5


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
    assert [v.version for v in store.list_model_versions(name)] == list(range(1, THREADS + 1))


def check_aliases_are_set_moved_and_removed_with_history(store: MetadataStore) -> None:
    name = _name()
    for _ in range(3):
        _add(store, name)
    set_first = store.set_model_alias(name, "champion", 1, actor="alice", reason="first")
    assert (set_first.model, set_first.alias) == (name, "champion")
    assert (set_first.from_version, set_first.to_version) == (None, 1)
    assert set_first.reason == "first" and set_first.actor is not None
    assert store.get_model_alias(name, "champion") == 1
    store.set_model_alias(name, "challenger", 3, reason="try it")
    moved = store.set_model_alias(name, "champion", 2, reason="better auc")
    assert (moved.from_version, moved.to_version) == (1, 2)
    assert store.get_model_alias(name, "champion") == 2
    assert dict(store.get_registered_model(name).aliases) == {"champion": 2, "challenger": 3}
    removed = store.set_model_alias(name, "challenger", None, reason="lost")
    assert (removed.from_version, removed.to_version) == (3, None)
    with pytest.raises(NotFoundError, match="challenger"):
        store.get_model_alias(name, "challenger")
    assert dict(store.get_registered_model(name).aliases) == {"champion": 2}

    history = store.list_alias_history(name)
    assert _moves(history) == [
        ("champion", None, 1, "first"),
        ("challenger", None, 3, "try it"),
        ("champion", 1, 2, "better auc"),
        ("challenger", 3, None, "lost"),
    ]
    assert history[0] == set_first and history[2] == moved and history[3] == removed
    assert [c.at for c in history] == sorted(c.at for c in history)
    assert all(c.model == name for c in history)
    assert _moves(store.list_alias_history(name, "champion")) == [
        ("champion", None, 1, "first"),
        ("champion", 1, 2, "better auc"),
    ]
    assert store.list_alias_history(name, "production") == []


def check_setting_an_alias_to_its_version_records_nothing(store: MetadataStore) -> None:
    name = _name()
    _add(store, name)
    store.set_model_alias(name, "champion", 1, reason="first")
    updated_at = store.get_registered_model(name).updated_at
    again = store.set_model_alias(name, "champion", 1, reason="again")
    assert (again.from_version, again.to_version, again.reason) == (1, 1, "again")
    assert _moves(store.list_alias_history(name)) == [("champion", None, 1, "first")]
    assert store.get_registered_model(name).updated_at == updated_at


def check_reserved_and_invalid_alias_names_are_refused(store: MetadataStore) -> None:
    name = _name()
    _add(store, name)
    for bad in ("latest", "LATEST", "", "1st", "-x", "_x", "a b", "a/b", "a@b", "a.b", "x" * 65):
        with pytest.raises(InvalidInputError, match="alias"):
            store.set_model_alias(name, bad, 1)
    with pytest.raises(InvalidInputError, match="reserved"):
        store.set_model_alias(name, "latest", 1)
    ok = "A" + "x" * 63
    assert store.set_model_alias(name, ok, 1).to_version == 1
    assert store.set_model_alias(name, "prod_v-2", 1).to_version == 1
    assert _moves(store.list_alias_history(name)) == [(ok, None, 1, ""), ("prod_v-2", None, 1, "")]


def check_an_alias_needs_an_existing_version_and_model(store: MetadataStore) -> None:
    name = _name()
    _add(store, name)
    _add(store, name)
    store.delete_model_version(name, 2)
    for missing in (2, 3):
        with pytest.raises(NotFoundError, match=f"'{name}' has no version {missing}; versions: 1"):
            store.set_model_alias(name, "champion", missing)
    unknown = _name()
    with pytest.raises(NotFoundError, match=unknown):
        store.set_model_alias(unknown, "champion", 1)
    with pytest.raises(NotFoundError, match="champion"):
        store.set_model_alias(name, "champion", None)  # not set: nothing to remove
    assert store.list_alias_history(name) == []
    assert dict(store.get_registered_model(name).aliases) == {}


def check_unknown_alias_lists_the_models_aliases(store: MetadataStore) -> None:
    name = _name()
    _add(store, name)
    with pytest.raises(NotFoundError, match="no aliases"):
        store.get_model_alias(name, "champion")
    store.set_model_alias(name, "challenger", 1)
    store.set_model_alias(name, "production", 1)
    with pytest.raises(NotFoundError) as missing:
        store.get_model_alias(name, "champion")
    assert f"Model '{name}' has no alias 'champion'; its aliases: challenger, production." in str(
        missing.value
    )


def check_a_version_an_alias_points_at_cannot_be_deleted(store: MetadataStore) -> None:
    name = _name()
    _add(store, name)
    _add(store, name)
    store.set_model_alias(name, "production", 1)
    store.set_model_alias(name, "champion", 1)
    with pytest.raises(ConflictError) as refused:
        store.delete_model_version(name, 1)
    assert "'champion', 'production'" in str(refused.value)
    assert [v.version for v in store.list_model_versions(name)] == [1, 2]
    store.set_model_alias(name, "production", 2)
    store.set_model_alias(name, "champion", None)
    store.delete_model_version(name, 1)
    assert [v.version for v in store.list_model_versions(name)] == [2]


def check_unknown_models_and_versions_are_named_in_not_found(store: MetadataStore) -> None:
    name = _name()
    for _ in range(3):
        _add(store, name)
    with pytest.raises(NotFoundError) as missing:
        store.get_model_version(name, 7)
    assert f"Model '{name}' has no version 7; versions: 1, 2, 3." in str(missing.value)
    unknown = _name()
    for call in (
        lambda: store.get_model_version(unknown),
        lambda: store.get_model_version(unknown, 1),
        lambda: store.list_model_versions(unknown),
        lambda: store.get_registered_model(unknown),
        lambda: store.get_model_alias(unknown, "champion"),
        lambda: store.list_alias_history(unknown),
        lambda: store.set_model_version_tag(unknown, 1, "k", "v"),
        lambda: store.delete_model_version(unknown, 1),
    ):
        with pytest.raises(NotFoundError, match=unknown):
            call()
    for call in (
        lambda: store.delete_model_version(name, 7),
        lambda: store.set_model_version_tag(name, 7, "k", "v"),
    ):
        with pytest.raises(NotFoundError, match="no version 7; versions: 1, 2, 3"):
            call()
    assert unknown not in {m.name for m in store.list_registered_models()}


def check_version_tags_are_set_and_overwritten(store: MetadataStore) -> None:
    name = _name()
    _add(store, name, tags={"team": "risk"})
    _add(store, name)
    store.set_model_version_tag(name, 1, "stage", "staging")
    store.set_model_version_tag(name, 1, "team", "fraud")
    store.set_model_version_tag(name, 1, "a/b.c", "x")
    assert dict(store.get_model_version(name, 1).tags) == {
        "team": "fraud",
        "stage": "staging",
        "a/b.c": "x",
    }
    assert dict(store.get_model_version(name, 2).tags) == {}
    for key, value in (("", "v"), ("/abs", "v"), ("bad\nkey", "v"), ("k", "v" * 8001)):
        with pytest.raises(InvalidInputError):
            store.set_model_version_tag(name, 1, key, value)
    with pytest.raises(InvalidInputError):
        store.set_model_version_tag(name, 0, "k", "v")


def check_bad_input_is_rejected_and_nothing_written(store: MetadataStore) -> None:
    name = _name()
    for bad_name in ("", " ", f"{name}@1", f"{name}/x", f"{name} x", "x" * 251):
        with pytest.raises(InvalidInputError, match="model name"):
            _add(store, bad_name)
    for field, bad in (
        ("flavor", {"flavor": ""}),
        ("flavor", {"flavor": "x" * 65}),
        ("tree_digest", {"tree_digest": "not-a-digest"}),
        ("tree_digest", {"tree_digest": "md5:00"}),
        ("created_at", {"created_at": -1}),
        ("run_id", {"run_id": ""}),
        ("auc", {"metrics": {"auc": math.nan}}),
        ("auc", {"metrics": {"auc": math.inf}}),
        ("auc", {"metrics": {"auc": "high"}}),
        ("auc", {"metrics": {"auc": True}}),
        ("metric key", {"metrics": {"bad\nkey": 1.0}}),
        ("tag key", {"tags": {"": "x"}}),
        ("tag", {"tags": {"k": "v" * 8001}}),
        ("signature", {"signature": ["not", "an", "object"]}),
        ("signature", {"signature": {"x": math.nan}}),
        ("signature", {"signature": {"x": object()}}),
        ("datasets", {"datasets": ("iris",)}),
        ("datasets", {"datasets": ("iris@0",)}),
        ("datasets", {"datasets": "iris@1"}),
        ("requirements", {"requirements": ("numpy\nscipy",)}),
        ("requirements", {"requirements": ("",)}),
        ("created_by", {"created_by": ""}),
    ):
        values = {"created_at": CREATED_AT, "flavor": "sklearn", "tree_digest": _tree(), **bad}
        new = ModelVersion(name, 0, **values)  # type: ignore[arg-type]
        with pytest.raises(InvalidInputError, match=field):
            store.add_model_version(new)
    with pytest.raises(NotFoundError):
        store.get_registered_model(name)
    assert name not in {m.name for m in store.list_registered_models()}
    _add(store, name)
    for bad_version in (0, -1, True, "1", 2**31):
        with pytest.raises(InvalidInputError):
            store.get_model_version(name, bad_version)  # type: ignore[arg-type]
        with pytest.raises(InvalidInputError):
            store.set_model_alias(name, "champion", bad_version)  # type: ignore[arg-type]
    assert store.list_alias_history(name) == []


def check_a_version_from_an_unknown_run_is_refused(store: MetadataStore) -> None:
    name = _name()
    with pytest.raises(NotFoundError, match="no-such-run"):
        _add(store, name, run_id=f"no-such-run-{uuid.uuid4().hex}")
    assert name not in {m.name for m in store.list_registered_models()}


def check_deleting_its_run_keeps_the_version(store: MetadataStore) -> None:
    name = _name()
    run_id = _run_id(store)
    produced = _add(store, name, run_id=run_id)
    store.delete_run(run_id)
    assert produced.run_id == run_id
    assert store.get_model_version(name, 1).run_id is None


def model_store_checks() -> list[StoreCheck]:
    """Every check in this module, in source order."""
    return [
        check for name, check in globals().items() if name.startswith("check_") and callable(check)
    ]
