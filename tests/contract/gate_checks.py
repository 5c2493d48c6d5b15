"""The gate result and approval behaviours every :class:`MetadataStore` backend must have.

Like :mod:`tests.contract.model_checks`: ``gate_store_checks()`` lists them, each uses only the
``MetadataStore`` protocol and names its models uniquely, so the checks also run against a
store shared by several checks. The actor is compared loosely: a remote store records the
server's principal, not the ``actor`` passed in.
"""

from __future__ import annotations

import dataclasses
import math
import uuid
from collections.abc import Callable

import pytest

from loopml.core.entities import GateResult, ModelApproval, ModelVersion
from loopml.core.errors import ConflictError, InvalidInputError, NotFoundError
from loopml.core.ids import new_id, now_ms
from loopml.stores.metadata.base import MetadataStore

StoreCheck = Callable[[MetadataStore], None]
EVALUATED_AT = 1_700_000_000_000
POLICY = {"metrics": {"accuracy": {"min": 0.9}}, "champion": {"alias": "champion"}}
DIGEST = "sha256:" + "ab" * 32


def _model(store: MetadataStore, versions: int = 1) -> str:
    name = f"gated-{uuid.uuid4().hex[:10]}"
    for _ in range(versions):
        tree = "blake3:" + uuid.uuid4().hex * 2
        store.add_model_version(ModelVersion(name, 0, "sklearn", tree, EVALUATED_AT))
    return name


def _result(model: str, version: int = 1, **fields: object) -> GateResult:
    values: dict[str, object] = {
        "id": new_id(),
        "passed": True,
        "checks": (),
        "policy": POLICY,
        "policy_digest": DIGEST,
        "evaluated_at": EVALUATED_AT,
        **fields,
    }
    return GateResult(model=model, version=version, **values)  # type: ignore[arg-type]


def _without_actor(result: GateResult) -> GateResult:
    return dataclasses.replace(result, actor=None)


def _comments(approvals: list[ModelApproval]) -> list[tuple[int, str]]:
    return [(a.version, a.comment) for a in approvals]


def check_a_gate_result_round_trips_every_field(store: MetadataStore) -> None:
    name = _model(store, versions=2)
    checks = (
        {
            "check": "metric",
            "name": "accuracy",
            "passed": True,
            "observed": 0.93,
            "limit": 0.9,
            "detail": "",
        },
        {
            "check": "schema",
            "name": "inputs",
            "passed": False,
            "observed": None,
            "limit": "same columns",
            "detail": "missing: ['age']",
            "extra": {"nested": [1, 2.5, "x", None, True]},
        },
    )
    full = _result(
        name, 2, passed=False, checks=checks, against=1, dataset="holdout@3", actor="alice"
    )
    added = store.add_gate_result(full)
    assert _without_actor(added) == _without_actor(full)
    assert added.actor is not None
    assert (added.checks, added.policy) == (checks, POLICY)
    assert (added.against, added.dataset) == (1, "holdout@3")
    bare = _result(name, 2, evaluated_at=EVALUATED_AT + 1)
    added_bare = store.add_gate_result(bare)
    assert _without_actor(added_bare) == bare
    assert (added_bare.checks, added_bare.against, added_bare.dataset) == ((), None, None)
    listed = store.list_gate_results(name, 2)
    assert listed == [added, added_bare]
    assert listed[0].checks[1]["extra"] == {"nested": [1, 2.5, "x", None, True]}
    assert isinstance(listed[0].checks[0]["observed"], float)
    assert listed[0].passed is False and listed[1].passed is True


def check_gate_results_are_listed_oldest_first_and_per_version(store: MetadataStore) -> None:
    name = _model(store, versions=2)
    early, late = sorted([new_id(), new_id()])  # same evaluated_at: ordered by id
    for version, result_id, at in (
        (2, new_id(), EVALUATED_AT + 300),
        (1, late, EVALUATED_AT + 200),
        (1, new_id(), EVALUATED_AT + 100),
        (2, early, EVALUATED_AT + 200),
    ):
        store.add_gate_result(_result(name, version, id=result_id, evaluated_at=at))
    every = store.list_gate_results(name)
    assert [(r.version, r.evaluated_at - EVALUATED_AT) for r in every] == [
        (1, 100),
        (2, 200),
        (1, 200),
        (2, 300),
    ]
    assert [every[1].id, every[2].id] == [early, late]
    assert store.list_gate_results(name, 1) == [every[0], every[2]]
    assert store.list_gate_results(name, 2) == [every[1], every[3]]
    assert all(r.model == name for r in every)
    assert store.list_gate_results(_model(store)) == []


def check_gate_results_of_unknown_models_and_versions_are_not_found(
    store: MetadataStore,
) -> None:
    name = _model(store, versions=2)
    store.delete_model_version(name, 2)
    unknown = f"gated-{uuid.uuid4().hex[:10]}"
    for call in (
        lambda: store.add_gate_result(_result(unknown)),
        lambda: store.list_gate_results(unknown),
        lambda: store.list_gate_results(unknown, 1),
    ):
        with pytest.raises(NotFoundError, match=unknown):
            call()
    for missing in (2, 7):
        with pytest.raises(NotFoundError, match=f"'{name}' has no version {missing}; versions: 1"):
            store.add_gate_result(_result(name, missing))
        with pytest.raises(NotFoundError, match=f"no version {missing}"):
            store.list_gate_results(name, missing)
    assert store.list_gate_results(name) == []
    assert unknown not in {m.name for m in store.list_registered_models()}


def check_bad_gate_results_are_refused_and_nothing_written(store: MetadataStore) -> None:
    name = _model(store)
    for field, bad in (
        ("id", {"id": ""}),
        ("id", {"id": "0" * 31}),
        ("id", {"id": "0" * 33}),
        ("id", {"id": "A" * 32}),
        ("id", {"id": "g" * 32}),
        ("id", {"id": "0" * 32 + "\n"}),
        ("id", {"id": uuid.uuid4()}),
        ("policy_digest", {"policy_digest": "sha256:abc"}),
        ("policy_digest", {"policy_digest": "md5:" + "ab" * 32}),
        ("policy_digest", {"policy_digest": "sha256:" + "AB" * 32}),
        ("policy_digest", {"policy_digest": "blake3:" + "ab" * 32}),
        ("checks", {"checks": ("not an object",)}),
        ("checks", {"checks": ({"check": "metric"}, ["a", "list"])}),
        ("checks", {"checks": ({"observed": math.nan},)}),
        ("checks", {"checks": ({"observed": object()},)}),
        ("checks", {"checks": {"check": "metric"}}),
        ("checks", {"checks": "metric"}),
        ("policy", {"policy": ["not", "an", "object"]}),
        ("policy", {"policy": None}),
        ("policy", {"policy": {"min": math.inf}}),
        ("dataset", {"dataset": "x" * 256}),
        ("dataset", {"dataset": ""}),
        ("dataset", {"dataset": 3}),
        ("evaluated_at", {"evaluated_at": -1}),
        ("evaluated_at", {"evaluated_at": 1.5}),
        ("passed", {"passed": "yes"}),
        ("passed", {"passed": False}),  # no check failed: the verdict is its checks'
        ("checks", {"checks": ({"check": "metric", "passed": False},)}),  # no name
        ("against", {"against": 0}),
        ("against", {"against": "1"}),
        ("actor", {"actor": ""}),
    ):
        with pytest.raises(InvalidInputError, match=rf"The {field}\b"):
            store.add_gate_result(_result(name, **bad))
    for bad_version in (0, -1, True):
        with pytest.raises(InvalidInputError, match="version"):
            store.add_gate_result(_result(name, bad_version))
        with pytest.raises(InvalidInputError, match="version"):
            store.list_gate_results(name, bad_version)
    assert store.list_gate_results(name) == []
    longest = store.add_gate_result(_result(name, dataset="d" * 253 + "@1"))
    assert store.list_gate_results(name) == [longest]


def check_a_gate_result_id_cannot_be_stored_twice(store: MetadataStore) -> None:
    name = _model(store, versions=2)
    other = _model(store)
    first = store.add_gate_result(_result(name, 1))
    failed = {"check": "metric", "name": "auc", "passed": False}
    for again in (
        _result(name, 1, id=first.id),
        _result(
            name, 2, id=first.id, passed=False, checks=(failed,), evaluated_at=EVALUATED_AT + 1
        ),
        _result(other, 1, id=first.id),
    ):
        with pytest.raises(ConflictError, match=first.id):
            store.add_gate_result(again)
    assert store.list_gate_results(name) == [first]
    assert store.list_gate_results(other) == []


def check_approvals_round_trip_oldest_first_per_version(store: MetadataStore) -> None:
    name = _model(store, versions=2)
    before = now_ms()
    first = store.add_model_approval(name, 1, actor="alice", comment="looks good")
    second = store.add_model_approval(name, 2)
    third = store.add_model_approval(name, 1, comment="c" * 2000)
    after = now_ms()
    assert (first.model, first.version, first.comment) == (name, 1, "looks good")
    assert first.actor is not None
    assert (second.version, second.comment) == (2, "")
    assert before <= first.at <= second.at <= third.at <= after
    assert store.list_model_approvals(name, 1) == [first, third]
    assert store.list_model_approvals(name, 2) == [second]
    assert store.list_model_approvals(name) == [first, second, third]
    assert _comments(store.list_model_approvals(name)) == [
        (1, "looks good"),
        (2, ""),
        (1, "c" * 2000),
    ]
    assert store.list_model_approvals(_model(store)) == []


def check_bad_or_unknown_approvals_are_refused_and_nothing_written(
    store: MetadataStore,
) -> None:
    name = _model(store, versions=2)
    store.delete_model_version(name, 2)
    unknown = f"gated-{uuid.uuid4().hex[:10]}"
    for call in (
        lambda: store.add_model_approval(unknown, 1),
        lambda: store.list_model_approvals(unknown),
        lambda: store.list_model_approvals(unknown, 1),
    ):
        with pytest.raises(NotFoundError, match=unknown):
            call()
    for missing in (2, 7):
        with pytest.raises(NotFoundError, match=f"'{name}' has no version {missing}; versions: 1"):
            store.add_model_approval(name, missing)
        with pytest.raises(NotFoundError, match=f"no version {missing}"):
            store.list_model_approvals(name, missing)
    for comment in ("c" * 2001, None, "nul\x00"):
        with pytest.raises(InvalidInputError, match="comment"):
            store.add_model_approval(name, 1, comment=comment)  # type: ignore[arg-type]
    for bad_version in (0, -1, True):
        with pytest.raises(InvalidInputError, match="version"):
            store.add_model_approval(name, bad_version)
    assert store.list_model_approvals(name) == []


def check_deleting_a_version_deletes_its_gate_results_and_approvals(
    store: MetadataStore,
) -> None:
    name = _model(store, versions=2)
    doomed = store.add_gate_result(_result(name, 1))
    kept = store.add_gate_result(_result(name, 2))
    store.add_model_approval(name, 1, comment="one")
    kept_approval = store.add_model_approval(name, 2, comment="two")
    store.set_model_alias(name, "champion", 1)
    with pytest.raises(ConflictError):
        store.delete_model_version(name, 1)  # refused: nothing of version 1 goes
    assert store.list_gate_results(name, 1) == [doomed]
    assert _comments(store.list_model_approvals(name, 1)) == [(1, "one")]

    store.set_model_alias(name, "champion", 2)
    store.delete_model_version(name, 1)
    assert store.list_gate_results(name) == [kept]
    assert store.list_model_approvals(name) == [kept_approval]
    for listing in (store.list_gate_results, store.list_model_approvals):
        with pytest.raises(NotFoundError, match="no version 1"):
            listing(name, 1)
    store.add_model_version(ModelVersion(name, 0, "sklearn", "blake3:" + "cd" * 32, 1))
    assert store.list_gate_results(name, 3) == []
    assert store.list_model_approvals(name, 3) == []


def gate_store_checks() -> list[StoreCheck]:
    """Every check in this module, in source order."""
    return [
        check for name, check in globals().items() if name.startswith("check_") and callable(check)
    ]
