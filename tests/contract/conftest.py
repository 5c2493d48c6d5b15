"""The store fixtures shared by the contract suites: ``metadata_store`` and ``loop_backend``.

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
from loopml.stores.registry import open_loop_store, open_metadata_store
from loopml.stores.remote.artifacts import HttpArtifactStore
from tests.contract.loop_checks import LoopBackend

METADATA_BACKENDS = [
    "sqlite",
    pytest.param("postgres", marks=pytest.mark.postgres),
    "remote",
]


@pytest.fixture(params=METADATA_BACKENDS)
def metadata_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MetadataStore]:
    uri = backend_uri(request, tmp_path)
    if request.param == "remote":  # it holds the blobs that the checks' artifacts point at
        _upload_test_blobs(uri)
    store = open_metadata_store(uri)
    try:
        yield store
    finally:
        store.close()


@pytest.fixture(params=METADATA_BACKENDS)
def loop_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LoopBackend]:
    """A loop store of each backend, and a way to open a second one on the same database."""
    uri = backend_uri(request, tmp_path)
    store = open_loop_store(uri)
    try:
        yield LoopBackend(store, lambda: open_loop_store(uri))
    finally:
        store.close()


def backend_uri(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The store URI of the backend ``request.param`` names; ``remote`` is a live ``loopml
    server`` over SQLite, shared by the test module's checks."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'loopml.db'}"
    if request.param == "postgres":
        return str(request.getfixturevalue("postgres_uri"))
    if request.param == "remote":
        return str(request.getfixturevalue("shared_platform_server_url"))
    raise AssertionError(f"no fixture branch for backend {request.param!r}")  # pragma: no cover


def _upload_test_blobs(server_url: str) -> None:
    # imported here so pytest can still rewrite the asserts of the checks module
    from tests.contract.metadata_checks import STORED_BLOB_SIZES, blob_content

    blobs = HttpArtifactStore(server_url)
    try:
        for size in STORED_BLOB_SIZES:
            blobs.put(io.BytesIO(blob_content(size)))
    finally:
        blobs.close()
