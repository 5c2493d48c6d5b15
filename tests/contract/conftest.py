"""The ``metadata_store`` fixture shared by the metadata contract suites.

Adding a backend is one more entry in ``METADATA_BACKENDS`` and one more branch in
:func:`metadata_store` that turns a fixture into a store URI — as the ``remote`` branch does:
a fixture (``tests/fixtures/server.py``) starts ``loopml server`` on a free port and yields
its base URL, and ``open_metadata_store(uri)`` picks the backend by URI scheme. The checks
stay unchanged because they use only the ``MetadataStore`` protocol and never assume an empty
store (so a server shared by several checks is fine).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from loopml.stores.metadata.base import MetadataStore
from loopml.stores.registry import open_metadata_store

METADATA_BACKENDS = [
    "sqlite",
    pytest.param("postgres", marks=pytest.mark.postgres),
    "remote",
]


@pytest.fixture(params=METADATA_BACKENDS)
def metadata_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MetadataStore]:
    if request.param == "sqlite":
        uri = f"sqlite:///{tmp_path / 'loopml.db'}"
    elif request.param == "postgres":
        uri = request.getfixturevalue("postgres_uri")
    elif request.param == "remote":
        # a live `python -m loopml.server` over SQLite, shared by the test module's checks
        uri = request.getfixturevalue("shared_platform_server_url")
    else:  # pragma: no cover - a new backend needs its branch above
        raise AssertionError(f"no fixture branch for backend {request.param!r}")
    store = open_metadata_store(uri)
    try:
        yield store
    finally:
        store.close()
