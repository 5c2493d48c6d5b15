"""Every metadata store backend passes every check in :mod:`tests.contract.run_start_checks`
(the ``metadata_store`` fixture of ``conftest.py``: sqlite, postgres and remote)."""

from __future__ import annotations

import pytest

from loopml.stores.metadata.base import MetadataStore
from tests.contract.run_start_checks import StoreCheck, run_start_checks


@pytest.mark.parametrize("check", run_start_checks(), ids=lambda check: check.__name__)
def test_run_start_contract(metadata_store: MetadataStore, check: StoreCheck) -> None:
    check(metadata_store)
