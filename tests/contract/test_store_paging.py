"""Every metadata store backend passes every check in :mod:`tests.contract.paging_checks`.

The ``metadata_store`` fixture (``conftest.py``) runs each check on every backend: sqlite,
postgres and remote (a live ``loopml server``, shared by this module's checks).
"""

from __future__ import annotations

import pytest

from loopml.stores.metadata.base import MetadataStore
from tests.contract.paging_checks import StoreCheck, paging_checks


@pytest.mark.parametrize("check", paging_checks(), ids=lambda check: check.__name__)
def test_paged_listings_contract(metadata_store: MetadataStore, check: StoreCheck) -> None:
    check(metadata_store)
