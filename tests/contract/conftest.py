"""The ``metadata_store`` fixture shared by the metadata contract suites.

Adding a backend is one more entry in ``METADATA_BACKENDS`` and one more branch in
:func:`metadata_store` that turns a fixture into a store URI — as the ``remote`` branch does:
a fixture (``tests/fixtures/server.py``) starts ``loopml server`` on a free port and yields
its base URL, and ``open_metadata_store(uri)`` picks the backend by URI scheme. The checks
stay unchanged because they use only the ``MetadataStore`` protocol and never assume an empty
store (so a server shared by several checks is fine).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from loopml.stores.metadata.base import MetadataStore
from loopml.stores.registry import open_metadata_store
from loopml.stores.remote.artifacts import HttpArtifactStore

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
        # a live `python -m loopml.server` over SQLite, shared by the test module's checks;
        # it holds the blobs that the checks' artifact entries point at
        uri = request.getfixturevalue("shared_platform_server_url")
        _upload_test_blobs(uri)
    else:  # pragma: no cover - a new backend needs its branch above
        raise AssertionError(f"no fixture branch for backend {request.param!r}")
    store = open_metadata_store(uri)
    try:
        yield store
    finally:
        store.close()


def _upload_test_blobs(server_url: str) -> None:
    # imported here so pytest can still rewrite the asserts of the checks module
    from tests.contract.metadata_checks import STORED_BLOB_SIZES, blob_content

    blobs = HttpArtifactStore(server_url)
    try:
        for size in STORED_BLOB_SIZES:
            blobs.put(io.BytesIO(blob_content(size)))
    finally:
        blobs.close()
