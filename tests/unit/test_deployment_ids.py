"""Prediction ids that name their deployment and version, and the resolution of a feedback
file's ids to the model whose deployment made them (over a real SQLite loop store)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from loopml.core.ids import new_id
from loopml.core.loop_records import NewDeployment
from loopml.monitoring.deployments import resolve_prediction_ids
from loopml.monitoring.prediction_ids import Origin, is_issued, mint_prefix, origin_of
from loopml.stores.loop.sql import SqlLoopStore


@pytest.fixture
def loop(tmp_path: Path) -> Iterator[SqlLoopStore]:
    store = SqlLoopStore(f"sqlite:///{tmp_path / 'loop.db'}")
    try:
        yield store
    finally:
        store.close()


def _register(loop: SqlLoopStore, model: str) -> str:
    deployment = NewDeployment(new_id(), model, "http://127.0.0.1:8080", 30_000)
    return loop.register_deployment(deployment).id


def test_an_id_names_its_deployment_and_version_and_still_checks_its_model() -> None:
    deployment = new_id()
    prefix = mint_prefix("cancer", 2, deployment=deployment, version=7)
    assert origin_of(f"{prefix}-1") == Origin(deployment, 7)
    assert is_issued("cancer", f"{prefix}-1")
    assert not is_issued("cancer", f"{prefix}-2")  # past the end of its request
    assert not is_issued("wine", f"{prefix}-0")
    other = new_id()
    assert not is_issued("cancer", f"{other}{prefix[32:]}-0")  # another deployment's id


def test_a_server_without_a_deployment_mints_the_short_form_that_names_no_origin() -> None:
    prefix = mint_prefix("cancer", 1)
    assert len(prefix) == 32 and origin_of(f"{prefix}-0") is None
    assert is_issued("cancer", f"{prefix}-0")


def test_ids_resolve_to_their_model_and_unknown_ones_are_listed(loop: SqlLoopStore) -> None:
    cancer, wine = _register(loop, "cancer"), _register(loop, "wine")
    ids = [
        f"{mint_prefix('cancer', 1, deployment=cancer, version=1)}-0",
        f"{mint_prefix('wine', 1, deployment=wine, version=3)}-0",
        f"{mint_prefix('cancer', 1, deployment=new_id(), version=1)}-0",  # never registered
        f"{mint_prefix('wine', 1, deployment=cancer, version=1)}-0",  # forged: wrong check
        f"{mint_prefix('cancer', 1)}-0",  # short form: needs the model
        "typo",
    ]
    found = resolve_prediction_ids(loop, ids)
    assert found.by_model == {"cancer": [0], "wine": [1]}
    assert found.unknown == [2, 3, 4, 5]
    narrowed = resolve_prediction_ids(loop, ids, model="cancer")
    assert narrowed.by_model == {"cancer": [0, 4]}
    assert narrowed.unknown == [1, 2, 3, 5]
