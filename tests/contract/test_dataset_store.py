"""Every metadata store backend passes every check in :mod:`tests.contract.dataset_checks`.

Only the SQL backends for now: the remote (HTTP) backend gains the dataset endpoints in a
later change, and then joins ``BACKENDS`` here with the same ``shared_platform_server_url``
branch that ``test_metadata_store.py`` uses.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from loopml.stores.metadata.base import MetadataStore
from loopml.stores.registry import open_metadata_store
from tests.contract.dataset_checks import StoreCheck, dataset_store_checks

BACKENDS = [
    "sqlite",
    pytest.param("postgres", marks=pytest.mark.postgres),
]


@pytest.fixture(params=BACKENDS)
def dataset_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MetadataStore]:
    if request.param == "sqlite":
        uri = f"sqlite:///{tmp_path / 'loopml.db'}"
    elif request.param == "postgres":
        uri = request.getfixturevalue("postgres_uri")
    else:  # pragma: no cover - a new backend needs its branch above
        raise AssertionError(f"no fixture branch for backend {request.param!r}")
    store = open_metadata_store(uri)
    try:
        yield store
    finally:
        store.close()


@pytest.mark.parametrize("check", dataset_store_checks(), ids=lambda check: check.__name__)
def test_dataset_store_contract(dataset_store: MetadataStore, check: StoreCheck) -> None:
    check(dataset_store)
