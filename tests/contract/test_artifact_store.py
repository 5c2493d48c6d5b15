"""Every artifact store backend against the one contract in :mod:`artifact_checks`.

To add a backend (for instance ``remote``, the HTTP client talking to a live server): write a
fixture named ``<name>_artifact_backend`` that yields an :class:`ArtifactBackendHandle` (here
or in ``tests/fixtures/<name>.py``), then add ``"<name>"`` to ``BACKENDS`` below, wrapped in
its marks if it needs a server. Nothing else changes.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.contract.artifact_backends import fsspec_backend, local_backend
from tests.contract.artifact_checks import (
    ArtifactBackendHandle,
    ArtifactCheck,
    artifact_store_checks,
    check_concurrent_puts_of_equal_content_store_one_blob,
    check_failed_put_publishes_nothing,
    check_large_blob_streams_in_bounded_memory,
    check_put_of_equal_content_is_stored_once,
)

BACKENDS: list[tuple[str, tuple[pytest.MarkDecorator, ...]]] = [
    ("local", ()),
    ("memory", ()),
    ("s3", (pytest.mark.s3,)),
    ("remote", ()),  # the HTTP client against a live server: tests/fixtures/server.py
]
# memory:// keeps blobs in RAM by design, so the bounded-memory check does not apply to it
NOT_APPLICABLE = {("memory", check_large_blob_streams_in_bounded_memory)}
# the checks that count the blobs stored get a server of their own; the others share the
# module's (each stores content no other check stores, so what one tampers with is its own)
COUNTS_BLOBS = {
    check_put_of_equal_content_is_stored_once,
    check_failed_put_publishes_nothing,
    check_concurrent_puts_of_equal_content_store_one_blob,
}
CASES = [
    pytest.param(name, check, marks=marks, id=f"{name}-{check.__name__}")
    for name, marks in BACKENDS
    for check in artifact_store_checks()
    if (name, check) not in NOT_APPLICABLE
]


def _flipped(data: bytes) -> bytes:
    """The same length with the first byte changed (or one byte, for an empty blob)."""
    return bytes([data[0] ^ 0xFF]) + data[1:] if data else b"x"


@pytest.fixture
def local_artifact_backend(tmp_path: Path) -> ArtifactBackendHandle:
    return local_backend("local", tmp_path / "artifacts", _flipped)


@pytest.fixture
def memory_artifact_backend() -> Iterator[ArtifactBackendHandle]:
    import fsspec

    # fsspec's memory filesystem is shared by the whole process: a fresh prefix per test
    prefix = f"loopml-test-{uuid.uuid4().hex}"
    fs = fsspec.filesystem("memory")
    yield fsspec_backend("memory", f"memory://{prefix}", fs, f"/{prefix}/blobs", _flipped)
    if fs.exists(f"/{prefix}"):
        fs.rm(f"/{prefix}", recursive=True)


@pytest.fixture
def s3_artifact_backend(s3_admin_filesystem: Any, s3_artifact_uri: str) -> ArtifactBackendHandle:
    blobs = f"{s3_artifact_uri.removeprefix('s3://')}/blobs"
    return fsspec_backend("s3", s3_artifact_uri, s3_admin_filesystem, blobs, _flipped)


@pytest.mark.parametrize(("backend", "check"), CASES)
def test_artifact_store_contract(
    request: pytest.FixtureRequest, backend: str, check: ArtifactCheck
) -> None:
    shared = backend == "remote" and check not in COUNTS_BLOBS
    handle = request.getfixturevalue(f"{'shared_' if shared else ''}{backend}_artifact_backend")
    assert isinstance(handle, ArtifactBackendHandle)
    check(handle)
