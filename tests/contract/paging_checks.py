"""The paged listings every :class:`MetadataStore` backend must have: registered models, a
model's versions, alias history and gate results, datasets and their versions, and the
children of a run's artifact folder.

Like :mod:`tests.contract.model_checks`: ``paging_checks()`` lists them, each uses only the
``MetadataStore`` protocol and names what it adds uniquely, so they run against a store shared
by several checks (a listing of every model holds other checks' models too: the checks look
at their own names, in the order the whole listing gives them).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import TypeVar

import pytest

from loopml.core.entities import (
    AliasChange,
    ArtifactEntry,
    ArtifactListing,
    DatasetVersion,
    GateResult,
    ModelVersion,
    Page,
)
from loopml.core.errors import InvalidInputError, NotFoundError
from loopml.core.ids import new_id
from loopml.stores.metadata.base import MetadataStore
from tests.contract.metadata_check_data import blob, new_experiment, new_run

StoreCheck = Callable[[MetadataStore], None]
T = TypeVar("T")
AT = 1_700_000_000_000
FORGED = ["not-a-token", "eyJrIjoibW9kZWxzIiwiYSI6WzFdLCJxIjoiIn0", "x" * 300]


def _tree() -> str:
    return "blake3:" + uuid.uuid4().hex * 2


def _model(store: MetadataStore, name: str, versions: int = 1) -> str:
    for _ in range(versions):
        store.add_model_version(ModelVersion(name, 0, "sklearn", _tree(), AT))
    return name


def _dataset(store: MetadataStore, name: str, versions: int = 1) -> str:
    for _ in range(versions):
        store.add_dataset_version(DatasetVersion(name, 0, _tree(), AT))
    return name


def _pages(fetch: Callable[[str | None], Page[T]]) -> Iterator[list[T]]:
    """Every page of a listing, following the tokens (at most 1000 pages)."""
    token: str | None = None
    for _ in range(1000):
        page = fetch(token)
        yield page.items
        token = page.next_page_token
        if token is None:
            return
    raise AssertionError("the listing did not end")


def _all(fetch: Callable[[str | None], Page[T]]) -> list[T]:
    return [item for items in _pages(fetch) for item in items]


def check_registered_models_are_paged_by_code_point_order(store: MetadataStore) -> None:
    stem = f"paged-{uuid.uuid4().hex[:8]}-"
    ours = [stem + suffix for suffix in ("b", "a", "B", "_x", "a.b", "Z", "9", "a-b")]
    for name in ours:
        _model(store, name)
    pages = list(_pages(lambda t: store.page_registered_models(max_results=2, page_token=t)))
    assert all(1 <= len(items) <= 2 for items in pages)
    names = [m.name for items in pages for m in items]
    assert names == sorted(names) and len(set(names)) == len(names)
    assert [n for n in names if n.startswith(stem)] == sorted(ours)
    # the same entities as the whole list
    assert [m for m in store.list_registered_models() if m.name.startswith(stem)] == [
        m for items in pages for m in items if m.name.startswith(stem)
    ]


def check_a_models_page_token_is_stable_across_inserts(store: MetadataStore) -> None:
    stem = f"stable-{uuid.uuid4().hex[:8]}-"
    for suffix in ("b", "d", "f", "h"):
        _model(store, stem + suffix)
    seen: list[str] = []
    token: str | None = None
    while stem + "b" not in seen:  # walk up to our first model, one a page
        page = store.page_registered_models(max_results=1, page_token=token)
        seen += [m.name for m in page]
        token = page.next_page_token
    assert token is not None
    _model(store, stem + "a")  # before the position: not listed again, nothing skipped
    _model(store, stem + "e")  # after it: listed in its place
    rest = [m.name for m in _all(lambda t: store.page_registered_models(page_token=t or token))]
    assert [n for n in rest if n.startswith(stem)] == [stem + s for s in ("d", "e", "f", "h")]
    assert not set(seen) & set(rest)


def check_a_models_versions_are_paged_both_ways(store: MetadataStore) -> None:
    name = _model(store, f"versions-{uuid.uuid4().hex[:8]}", versions=5)

    def numbers(newest_first: bool) -> list[list[int]]:
        def fetch(token: str | None) -> Page[ModelVersion]:
            return store.page_model_versions(
                name, max_results=2, page_token=token, newest_first=newest_first
            )

        return [[v.version for v in items] for items in _pages(fetch)]

    assert numbers(False) == [[1, 2], [3, 4], [5]]
    assert numbers(True) == [[5, 4], [3, 2], [1]]
    assert store.page_model_versions(name).items == store.list_model_versions(name)
    with pytest.raises(NotFoundError, match="No model named"):
        store.page_model_versions(f"missing-{uuid.uuid4().hex[:8]}")


def check_a_version_page_token_is_stable_across_inserts(store: MetadataStore) -> None:
    name = _model(store, f"versions-{uuid.uuid4().hex[:8]}", versions=4)
    newest = store.page_model_versions(name, max_results=2, newest_first=True)
    oldest = store.page_model_versions(name, max_results=2)
    _model(store, name)  # version 5
    after_newest = store.page_model_versions(
        name, max_results=10, newest_first=True, page_token=newest.next_page_token
    )
    after_oldest = store.page_model_versions(
        name, max_results=10, page_token=oldest.next_page_token
    )
    assert [v.version for v in after_newest] == [2, 1]
    assert [v.version for v in after_oldest] == [3, 4, 5]


def check_alias_history_is_paged_newest_first_or_in_order(store: MetadataStore) -> None:
    name = _model(store, f"aliases-{uuid.uuid4().hex[:8]}", versions=3)
    for alias, version in [("champion", 1), ("challenger", 2), ("champion", 2), ("champion", 3)]:
        store.set_model_alias(name, alias, version, reason=f"{alias} to {version}")
    whole = store.list_alias_history(name)

    def fetch(alias: str | None, newest_first: bool) -> list[list[str]]:
        def one(token: str | None) -> Page[AliasChange]:
            return store.page_alias_history(
                name, alias, max_results=3, page_token=token, newest_first=newest_first
            )

        return [[c.reason for c in items] for items in _pages(one)]

    reasons = [c.reason for c in whole]
    assert fetch(None, False) == [reasons[:3], reasons[3:]]
    assert fetch(None, True) == [reasons[::-1][:3], reasons[::-1][3:]]
    champion = [c.reason for c in store.list_alias_history(name, "champion")]
    assert fetch("champion", True) == [champion[::-1]]
    assert store.page_alias_history(name).items == whole


def check_gate_results_are_paged_and_the_newest_is_one_page(store: MetadataStore) -> None:
    name = _model(store, f"gates-{uuid.uuid4().hex[:8]}", versions=2)
    for version, at in [(1, AT + 2), (2, AT + 1), (1, AT + 3), (1, AT + 1), (2, AT + 5)]:
        result = GateResult(
            id=new_id(),
            model=name,
            version=version,
            passed=True,
            checks=(),
            policy={},
            policy_digest="sha256:" + "ab" * 32,
            evaluated_at=at,
        )
        store.add_gate_result(result)
    whole = store.list_gate_results(name)

    def ids(version: int | None, newest_first: bool) -> list[str]:
        def one(token: str | None) -> Page[GateResult]:
            return store.page_gate_results(
                name, version, max_results=2, page_token=token, newest_first=newest_first
            )

        return [r.id for r in _all(one)]

    assert ids(None, False) == [r.id for r in whole]
    assert ids(None, True) == [r.id for r in reversed(whole)]
    assert ids(1, False) == [r.id for r in store.list_gate_results(name, 1)]
    newest = store.page_gate_results(name, 1, max_results=1, newest_first=True)
    assert [r.evaluated_at for r in newest] == [AT + 3]
    with pytest.raises(NotFoundError, match="no version 9"):
        store.page_gate_results(name, 9)


def check_datasets_and_their_versions_are_paged(store: MetadataStore) -> None:
    stem = f"paged-data-{uuid.uuid4().hex[:8]}-"
    for suffix, count in (("b", 2), ("a", 1), ("C", 3)):
        _dataset(store, stem + suffix, count)
    newest = _all(lambda t: store.page_dataset_versions(max_results=2, page_token=t))
    names = [v.dataset for v in newest]
    assert names == sorted(names) and len(set(names)) == len(names)
    ours = [(v.dataset, v.version) for v in newest if v.dataset.startswith(stem)]
    assert ours == [(stem + "C", 3), (stem + "a", 1), (stem + "b", 2)]
    mine = [v for v in store.list_dataset_versions(None) if v.dataset.startswith(stem)]
    assert mine == [v for v in newest if v.dataset.startswith(stem)]
    name = stem + "C"
    pages = list(
        _pages(
            lambda t: store.page_dataset_versions(
                name, max_results=2, page_token=t, newest_first=True
            )
        )
    )
    assert [[v.version for v in items] for items in pages] == [[3, 2], [1]]
    first = store.page_dataset_versions(name, max_results=2)
    _dataset(store, name)  # version 4 comes after the token's position
    rest = store.page_dataset_versions(name, page_token=first.next_page_token)
    assert [v.version for v in rest] == [3, 4]


def check_artifact_folders_are_paged_one_child_per_sub_folder(store: MetadataStore) -> None:
    run = new_run(store, new_experiment(store))
    paths = [
        "a.txt",
        "b.txt",
        "b/1.txt",
        "b/2.txt",
        "b/c/deep.txt",
        "b0.txt",
        "c/x.bin",
        "d.txt",
    ]
    store.add_artifacts(run.id, [ArtifactEntry(p, blob(i % 5), i % 5) for i, p in enumerate(paths)])

    def children(path: str, size: int) -> list[tuple[str, bool]]:
        def one(token: str | None) -> Page[ArtifactListing]:
            return store.list_artifact_children(run.id, path, max_results=size, page_token=token)

        return [(c.path, c.is_dir) for c in _all(one)]

    expected = [("a.txt", False), ("b.txt", False), ("b", True), ("b0.txt", False),
                ("c", True), ("d.txt", False)]  # fmt: skip
    for size in (1, 2, 100):
        assert children("", size) == expected
    assert children("b", 1) == [("b/1.txt", False), ("b/2.txt", False), ("b/c", True)]
    only = store.list_artifact_children(run.id, "b/1.txt")
    assert [(c.path, c.is_dir, c.size, c.digest) for c in only] == [("b/1.txt", False, 2, blob(2))]
    assert only.next_page_token is None
    assert store.list_artifact_children(run.id, "nothing/here").items == []
    # stable across inserts: one before the position is not listed, one after is
    first = store.list_artifact_children(run.id, "", max_results=3)
    assert [c.path for c in first] == ["a.txt", "b.txt", "b"]
    added = [ArtifactEntry(path, blob(1), 1) for path in ("a0.txt", "b/z", "c0.txt")]
    store.add_artifacts(run.id, added)
    rest = store.list_artifact_children(run.id, "", page_token=first.next_page_token)
    assert [c.path for c in rest] == ["b0.txt", "c", "c0.txt", "d.txt"]
    with pytest.raises(NotFoundError):
        store.list_artifact_children(new_id(), "")


def check_page_sizes_are_bounded_and_forged_tokens_refused(store: MetadataStore) -> None:
    name = _model(store, f"bounds-{uuid.uuid4().hex[:8]}", versions=3)
    dataset = _dataset(store, f"bounds-data-{uuid.uuid4().hex[:8]}", 3)
    run = new_run(store, new_experiment(store))
    listings: list[Callable[..., object]] = [
        lambda **kw: store.page_registered_models(**kw),
        lambda **kw: store.page_model_versions(name, **kw),
        lambda **kw: store.page_alias_history(name, **kw),
        lambda **kw: store.page_gate_results(name, **kw),
        lambda **kw: store.page_dataset_versions(**kw),
        lambda **kw: store.page_dataset_versions(dataset, **kw),
        lambda **kw: store.list_artifact_children(run.id, **kw),
    ]
    for listing in listings:
        for bad in (0, -1, 50_001):
            with pytest.raises(InvalidInputError, match="max_results"):
                listing(max_results=bad)
        for forged in FORGED:
            with pytest.raises(InvalidInputError, match="page_token"):
                listing(page_token=forged)
    # a token of one listing is refused by another, and by the same listing of another model
    other = _model(store, f"bounds-{uuid.uuid4().hex[:8]}", versions=3)
    token = store.page_model_versions(name, max_results=1).next_page_token
    assert token is not None
    with pytest.raises(InvalidInputError, match="page_token"):
        store.page_model_versions(other, page_token=token)
    with pytest.raises(InvalidInputError, match="page_token"):
        store.page_model_versions(name, page_token=token, newest_first=True)
    with pytest.raises(InvalidInputError, match="page_token"):
        store.page_dataset_versions(dataset, page_token=token)


def paging_checks() -> list[StoreCheck]:
    return [
        check_registered_models_are_paged_by_code_point_order,
        check_a_models_page_token_is_stable_across_inserts,
        check_a_models_versions_are_paged_both_ways,
        check_a_version_page_token_is_stable_across_inserts,
        check_alias_history_is_paged_newest_first_or_in_order,
        check_gate_results_are_paged_and_the_newest_is_one_page,
        check_datasets_and_their_versions_are_paged,
        check_artifact_folders_are_paged_one_child_per_sub_folder,
        check_page_sizes_are_bounded_and_forged_tokens_refused,
    ]
