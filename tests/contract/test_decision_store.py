"""Every loop store backend passes every check in :mod:`tests.contract.decision_checks`:
sqlite, postgres and remote (a live ``loopml server``, shared by this module's checks)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from loopml.stores.registry import open_loop_store
from tests.contract.decision_checks import DecisionCheck, decision_store_checks
from tests.contract.loop_checks import LoopBackend

BACKENDS = [
    "sqlite",
    pytest.param("postgres", marks=pytest.mark.postgres),
    "remote",
]


@pytest.fixture(params=BACKENDS)
def loop_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LoopBackend]:
    if request.param == "sqlite":
        uri = f"sqlite:///{tmp_path / 'loopml.db'}"
    elif request.param == "postgres":
        uri = request.getfixturevalue("postgres_uri")
    elif request.param == "remote":
        uri = request.getfixturevalue("shared_platform_server_url")
    else:  # pragma: no cover - a new backend needs its branch above
        raise AssertionError(f"no fixture branch for backend {request.param!r}")
    store = open_loop_store(uri)
    try:
        yield LoopBackend(store, lambda: open_loop_store(uri))
    finally:
        store.close()


@pytest.mark.parametrize("check", decision_store_checks(), ids=lambda check: check.__name__)
def test_decision_store_contract(loop_backend: LoopBackend, check: DecisionCheck) -> None:
    check(loop_backend)
