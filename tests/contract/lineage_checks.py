"""The artifact lineage behaviours every :class:`MetadataStore` backend must have, as checks.

Like :mod:`tests.contract.dataset_checks`: ``lineage_store_checks()`` lists them, each uses
only the ``MetadataStore`` protocol and makes its own runs and digests, so the checks also run
against a store shared by several checks.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest

from loopml.core.entities import ArtifactEdge
from loopml.core.errors import InvalidInputError, NotFoundError
from loopml.stores.metadata.base import MetadataStore, NewRun

StoreCheck = Callable[[MetadataStore], None]
CREATED_AT = 1_700_000_000_000


def _digest() -> str:
    return "blake3:" + uuid.uuid4().hex * 2


def _run_id(store: MetadataStore) -> str:
    experiment = store.create_experiment(f"exp-{uuid.uuid4().hex[:10]}")
    return store.create_run(NewRun(experiment.id, "run", CREATED_AT)).id


def check_edges_are_listed_by_run_and_by_digest(store: MetadataStore) -> None:
    raw, features, model = _digest(), _digest(), _digest()
    producer, consumer = sorted([_run_id(store), _run_id(store)])
    store.add_artifact_edges(producer, [("input", raw, "raw"), ("output", features, "output")])
    store.add_artifact_edges(
        consumer, [("output", model, "output"), ("input", features, "train"), ("input", raw, "a")]
    )
    assert store.list_artifact_edges(run_id=consumer) == [
        ArtifactEdge(consumer, "input", raw, "a"),
        ArtifactEdge(consumer, "input", features, "train"),
        ArtifactEdge(consumer, "output", model, "output"),
    ]
    assert store.list_artifact_edges(digest=features) == [
        ArtifactEdge(producer, "output", features, "output"),
        ArtifactEdge(consumer, "input", features, "train"),
    ]
    assert store.list_artifact_edges(run_id=producer, digest=raw) == [
        ArtifactEdge(producer, "input", raw, "raw")
    ]
    assert store.list_artifact_edges(run_id=producer, digest=model) == []
    assert store.list_artifact_edges(digest=_digest()) == []


def check_edges_are_ordered_by_direction_then_name_then_digest(store: MetadataStore) -> None:
    run_id = _run_id(store)
    first, second = sorted([_digest(), _digest()])
    store.add_artifact_edges(
        run_id,
        [
            ("output", first, "output"),
            ("input", second, "b"),
            ("input", first, "b"),
            ("input", second, "B"),  # upper case sorts first by code point on every backend
            ("input", first, "a"),
        ],
    )
    listed = [(e.direction, e.name, e.digest) for e in store.list_artifact_edges(run_id=run_id)]
    assert listed == [
        ("input", "B", second),
        ("input", "a", first),
        ("input", "b", first),
        ("input", "b", second),
        ("output", "output", first),
    ]


def check_adding_an_edge_again_keeps_one(store: MetadataStore) -> None:
    run_id = _run_id(store)
    digest = _digest()
    edge = ("input", digest, "data")
    store.add_artifact_edges(run_id, [edge, edge])
    store.add_artifact_edges(run_id, [edge])
    store.add_artifact_edges(run_id, [])
    # the same tree under another name, or in the other direction, is another edge
    store.add_artifact_edges(run_id, [("input", digest, "data2"), ("output", digest, "data")])
    assert store.list_artifact_edges(run_id=run_id) == [
        ArtifactEdge(run_id, "input", digest, "data"),
        ArtifactEdge(run_id, "input", digest, "data2"),
        ArtifactEdge(run_id, "output", digest, "data"),
    ]


def check_a_bare_hex_digest_is_stored_with_its_algorithm(store: MetadataStore) -> None:
    run_id = _run_id(store)
    digest = _digest()
    bare = digest.removeprefix("blake3:")
    store.add_artifact_edges(run_id, [("input", bare, "x"), ("input", digest, "x")])
    assert store.list_artifact_edges(run_id=run_id) == [ArtifactEdge(run_id, "input", digest, "x")]
    assert store.list_artifact_edges(digest=bare) == [ArtifactEdge(run_id, "input", digest, "x")]


def check_edges_of_an_unknown_run_raise_not_found(store: MetadataStore) -> None:
    digest = _digest()
    with pytest.raises(NotFoundError, match="no-such-run"):
        store.add_artifact_edges(f"no-such-run-{uuid.uuid4().hex}", [("input", digest, "x")])
    assert store.list_artifact_edges(digest=digest) == []


def check_bad_edges_are_rejected_and_nothing_written(store: MetadataStore) -> None:
    run_id = _run_id(store)
    good = ("input", _digest(), "good")
    bad_edges: list[tuple[object, str]] = [
        (("sideways", _digest(), "x"), "direction .*'input' or 'output'"),
        (("INPUT", _digest(), "x"), "direction"),
        (("input", "not-a-digest", "x"), "digest .*blake3"),
        (("input", "md5:" + "0" * 32, "x"), "digest"),
        (("input", 42, "x"), "digest"),
        (("input", _digest(), ""), "name .*non-empty string of at most 255"),
        (("input", _digest(), "x" * 256), "name"),
        (("input", _digest(), 7), "name"),
        (("input", _digest()), "triple"),
        ("input", "triple"),
    ]
    for bad, message in bad_edges:
        with pytest.raises(InvalidInputError, match=message):
            store.add_artifact_edges(run_id, [good, bad])  # type: ignore[list-item]
    with pytest.raises(InvalidInputError):
        store.add_artifact_edges(run_id, "input")  # type: ignore[arg-type]
    assert store.list_artifact_edges(run_id=run_id) == []  # all or nothing
    longest = "n" * 255
    store.add_artifact_edges(run_id, [("output", good[1], longest)])
    assert [e.name for e in store.list_artifact_edges(run_id=run_id)] == [longest]


def check_a_bad_digest_filter_is_invalid_input(store: MetadataStore) -> None:
    with pytest.raises(InvalidInputError, match="digest"):
        store.list_artifact_edges(digest="not-a-digest")


def check_deleting_a_run_removes_its_edges(store: MetadataStore) -> None:
    digest = _digest()
    deleted, kept = _run_id(store), _run_id(store)
    store.add_artifact_edges(deleted, [("output", digest, "output")])
    store.add_artifact_edges(kept, [("input", digest, "data")])
    store.delete_run(deleted)
    assert store.list_artifact_edges(digest=digest) == [ArtifactEdge(kept, "input", digest, "data")]
    assert store.list_artifact_edges(run_id=deleted) == []


def check_deleting_a_parent_run_removes_its_childrens_edges(store: MetadataStore) -> None:
    parent = _run_id(store)
    experiment_id = store.get_run(parent).experiment_id
    child = store.create_run(NewRun(experiment_id, "child", CREATED_AT, parent_run_id=parent)).id
    digest = _digest()
    store.add_artifact_edges(child, [("output", digest, "output")])
    store.delete_run(parent)
    assert store.list_artifact_edges(digest=digest) == []


def lineage_store_checks() -> list[StoreCheck]:
    """Every check in this module, in source order."""
    return [
        check for name, check in globals().items() if name.startswith("check_") and callable(check)
    ]
