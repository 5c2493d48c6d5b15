"""``batched_writes``: many puts made durable by one flush, without changing what is stored."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from loopml.core.hashing import hash_bytes
from loopml.stores.artifacts.base import BatchingArtifactStore, batched_writes
from loopml.stores.artifacts.fsspec_store import FsspecArtifactStore
from loopml.stores.artifacts.local import BLOB_MODE, LocalArtifactStore


def test_puts_inside_a_batch_are_published_read_only_and_readable(tmp_path: Path) -> None:
    store = LocalArtifactStore(str(tmp_path / "store"))
    contents = [f"blob {i}".encode() * (i + 1) for i in range(50)] + [b"x" * (3 << 20)]
    with batched_writes(store), batched_writes(store):  # nesting flushes once, at the end
        digests = [store.put(io.BytesIO(content)) for content in contents]
    assert digests == [hash_bytes(content) for content in contents]
    for digest, content in zip(digests, contents, strict=True):
        with store.open(digest) as reader:
            assert reader.read() == content
        assert os.stat(store.blob_path(digest)).st_mode & 0o777 == BLOB_MODE
    assert list((tmp_path / "store" / "tmp").iterdir()) == []  # no temp file left behind


def test_an_error_inside_a_batch_propagates(tmp_path: Path) -> None:
    store = LocalArtifactStore(str(tmp_path / "store"))
    with pytest.raises(RuntimeError, match="boom"), batched_writes(store):
        store.put(io.BytesIO(b"kept"))
        raise RuntimeError("boom")
    assert store.exists(hash_bytes(b"kept"))


def test_a_store_without_the_capability_gets_a_plain_block() -> None:
    store = FsspecArtifactStore("memory://batching-test")
    assert not isinstance(store, BatchingArtifactStore)
    with batched_writes(store):
        digest = store.put(io.BytesIO(b"plain"))
    assert store.exists(digest)
