"""Every metadata store backend passes every check in :mod:`tests.contract.gate_checks`.

The ``metadata_store`` fixture (``conftest.py``) runs each check on every backend: sqlite,
postgres and remote (a live ``loopml server``, shared by this module's checks).
"""

from __future__ import annotations

import pytest

from loopml.stores.metadata.base import MetadataStore
from tests.contract.gate_checks import StoreCheck, gate_store_checks


@pytest.mark.parametrize("check", gate_store_checks(), ids=lambda check: check.__name__)
def test_gate_store_contract(metadata_store: MetadataStore, check: StoreCheck) -> None:
    check(metadata_store)
