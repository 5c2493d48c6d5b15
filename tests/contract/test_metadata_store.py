"""Every metadata store backend passes every check in :mod:`tests.contract.metadata_checks`.

Adding a backend is one more entry in ``BACKENDS`` and one more branch in
:func:`metadata_store`. For the remote store (HTTP to ``loopml server``), for instance:

    BACKENDS = ["sqlite", "postgres", "remote"]
    ...
    elif request.param == "remote":
        # a fixture (tests/fixtures/server.py) that starts `loopml server` on a free port
        # over its own fresh SQLite store and yields its base URL, e.g. http://127.0.0.1:PORT
        uri = request.getfixturevalue("server_url")

``open_metadata_store(uri)`` then picks the backend by URI scheme; the checks stay unchanged
because they use only the ``MetadataStore`` protocol and never assume an empty store.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from loopml.stores.metadata.base import MetadataStore
from loopml.stores.registry import open_metadata_store
from tests.contract.metadata_checks import StoreCheck, metadata_store_checks

BACKENDS = [
    "sqlite",
    pytest.param("postgres", marks=pytest.mark.postgres),
]


@pytest.fixture(params=BACKENDS)
def metadata_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MetadataStore]:
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


@pytest.mark.parametrize("check", metadata_store_checks(), ids=lambda check: check.__name__)
def test_metadata_store_contract(metadata_store: MetadataStore, check: StoreCheck) -> None:
    check(metadata_store)
