"""Every identity store backend passes every check in :mod:`tests.contract.identity_checks`:
sqlite, postgres and remote (a live ``loopml server``, shared by this module's checks)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from loopml.stores.identity.base import IdentityStore
from loopml.stores.registry import open_identity_store
from tests.contract.conftest import METADATA_BACKENDS, backend_uri
from tests.contract.identity_checks import IdentityCheck, identity_store_checks


@pytest.fixture(params=METADATA_BACKENDS)
def identity_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[IdentityStore]:
    store = open_identity_store(backend_uri(request, tmp_path))
    try:
        yield store
    finally:
        store.close()


@pytest.mark.parametrize("check", identity_store_checks(), ids=lambda check: check.__name__)
def test_identity_store_contract(identity_store: IdentityStore, check: IdentityCheck) -> None:
    check(identity_store)
