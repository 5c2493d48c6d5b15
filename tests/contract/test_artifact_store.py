"""Every artifact store backend against the one contract in :mod:`artifact_checks`.

To add a backend (for instance ``remote``, the HTTP client talking to a live server): write a
fixture named ``<name>_artifact_backend`` that yields an :class:`ArtifactBackendHandle` (here
or in ``tests/fixtures/<name>.py``), then add ``"<name>"`` to ``BACKENDS`` below, wrapped in
``pytest.param(..., marks=pytest.mark.<marker>)`` if it needs a server. Nothing else changes.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from loopml.core.hashing import Digest
from loopml.stores.artifacts.fsspec_store import FsspecArtifactStore
from loopml.stores.artifacts.local import LocalArtifactStore
from tests.contract.artifact_checks import (
    ArtifactBackendHandle,
    ArtifactCheck,
    artifact_store_checks,
)

BACKENDS = [
    "local",
    "memory",
    pytest.param("s3", marks=pytest.mark.s3),
    "remote",  # the HTTP client against a live server: tests/fixtures/server.py
]


def _flipped(data: bytes) -> bytes:
    """The same length with the first byte changed (or one byte, for an empty blob)."""
    return bytes([data[0] ^ 0xFF]) + data[1:] if data else b"x"


@pytest.fixture
def local_artifact_backend(tmp_path: Path) -> ArtifactBackendHandle:
    store = LocalArtifactStore(str(tmp_path / "artifacts"))

    def corrupt(digest: Digest) -> None:
        path = store.blob_path(digest)
        path.chmod(0o644)
        path.write_bytes(_flipped(path.read_bytes()))

    def count_blobs() -> int:
        blobs = store.root / "blobs"
        return sum(1 for p in blobs.rglob("*") if p.is_file()) if blobs.exists() else 0

    return ArtifactBackendHandle("local", store, corrupt, count_blobs)


@pytest.fixture
def memory_artifact_backend() -> Iterator[ArtifactBackendHandle]:
    import fsspec

    # fsspec's memory filesystem is shared by the whole process: a fresh prefix per test
    prefix = f"loopml-test-{uuid.uuid4().hex}"
    store = FsspecArtifactStore(f"memory://{prefix}")
    fs = fsspec.filesystem("memory")

    def corrupt(digest: Digest) -> None:
        key = store.blob_key(digest)
        fs.pipe_file(key, _flipped(fs.cat_file(key)))

    def count_blobs() -> int:
        return len(fs.find(f"/{prefix}/blobs"))

    yield ArtifactBackendHandle("memory", store, corrupt, count_blobs, holds_blobs_in_memory=True)
    if fs.exists(f"/{prefix}"):
        fs.rm(f"/{prefix}", recursive=True)


@pytest.fixture
def s3_artifact_backend(s3_admin_filesystem: Any, s3_artifact_uri: str) -> ArtifactBackendHandle:
    store = FsspecArtifactStore(s3_artifact_uri)
    fs = s3_admin_filesystem
    prefix = s3_artifact_uri.removeprefix("s3://")

    def corrupt(digest: Digest) -> None:
        key = store.blob_key(digest)
        fs.pipe_file(key, _flipped(fs.cat_file(key)))

    def count_blobs() -> int:
        return len(fs.find(f"{prefix}/blobs"))

    return ArtifactBackendHandle("s3", store, corrupt, count_blobs)


@pytest.fixture(params=BACKENDS)
def artifact_backend(request: pytest.FixtureRequest) -> ArtifactBackendHandle:
    handle = request.getfixturevalue(f"{request.param}_artifact_backend")
    assert isinstance(handle, ArtifactBackendHandle)
    return handle


@pytest.mark.parametrize("check", artifact_store_checks(), ids=lambda check: check.__name__)
def test_artifact_store_contract(
    artifact_backend: ArtifactBackendHandle, check: ArtifactCheck
) -> None:
    check(artifact_backend)
