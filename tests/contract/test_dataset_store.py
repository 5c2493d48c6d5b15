"""Every metadata store backend passes every check in :mod:`tests.contract.dataset_checks`.

The ``metadata_store`` fixture (``conftest.py``) runs each check on every backend: sqlite,
postgres and remote (a live ``loopml server``, shared by this module's checks).
"""

from __future__ import annotations

import pytest

from loopml.stores.metadata.base import MetadataStore
from tests.contract.dataset_checks import StoreCheck, dataset_store_checks


@pytest.mark.parametrize("check", dataset_store_checks(), ids=lambda check: check.__name__)
def test_dataset_store_contract(metadata_store: MetadataStore, check: StoreCheck) -> None:
    check(metadata_store)
