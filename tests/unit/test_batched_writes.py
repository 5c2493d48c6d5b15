"""``batched_writes``: many puts made durable by one flush, without changing what is stored."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from loopml.core.errors import IntegrityError
from loopml.core.hashing import hash_bytes
from loopml.stores.artifacts.base import BatchingArtifactStore, batched_writes
from loopml.stores.artifacts.fsspec_store import FsspecArtifactStore
from loopml.stores.artifacts.local import BLOB_MODE, LocalArtifactStore


def test_puts_inside_a_batch_are_published_read_only_and_readable(tmp_path: Path) -> None:
    store = LocalArtifactStore(str(tmp_path / "store"))
    contents = [f"blob {i}".encode() * (i + 1) for i in range(50)] + [b"x" * (3 << 20)]
    with batched_writes(store), batched_writes(store):  # nesting flushes once, at the end
        digests = [store.put(io.BytesIO(content)) for content in contents]
        # readable inside the batch too, before the pack is published
        assert all(store.exists(d) for d in digests)
        with store.open(digests[3]) as reader:
            assert reader.read() == contents[3]
    assert digests == [hash_bytes(content) for content in contents]
    reopened = LocalArtifactStore(str(tmp_path / "store"))  # another process, say
    for digest, content in zip(digests, contents, strict=True):
        for each in (store, reopened):
            with each.open(digest) as reader:
                assert reader.read() == content
            assert each.exists(digest) and each.size(digest) == len(content)
    # the big blob is a read-only loose file; the small ones share one pack
    assert os.stat(store.blob_path(digests[-1])).st_mode & 0o777 == BLOB_MODE
    assert not store.blob_path(digests[0]).exists()
    assert sorted(p.suffix for p in (tmp_path / "store" / "packs").iterdir()) == [".idx", ".pack"]
    assert list((tmp_path / "store" / "tmp").iterdir()) == []  # no temp file left behind


def test_a_changed_byte_in_a_pack_is_caught_on_read(tmp_path: Path) -> None:
    store = LocalArtifactStore(str(tmp_path / "store"))
    with batched_writes(store):
        digest = store.put(io.BytesIO(b"hello, pack"))
    (pack,) = (tmp_path / "store" / "packs").glob("*.pack")
    os.chmod(pack, 0o644)
    pack.write_bytes(pack.read_bytes().replace(b"hello", b"jello"))
    with (
        pytest.raises(IntegrityError),
        LocalArtifactStore(str(tmp_path / "store")).open(digest) as reader,
    ):
        reader.read()


def test_outside_a_batch_small_blobs_stay_loose_files(tmp_path: Path) -> None:
    store = LocalArtifactStore(str(tmp_path / "store"))
    digest = store.put(io.BytesIO(b"loose"))
    assert store.blob_path(digest).is_file()
    assert not (tmp_path / "store" / "packs").exists()


def test_an_error_inside_a_batch_propagates(tmp_path: Path) -> None:
    store = LocalArtifactStore(str(tmp_path / "store"))
    with pytest.raises(RuntimeError, match="boom"), batched_writes(store):
        store.put(io.BytesIO(b"kept"))
        raise RuntimeError("boom")
    # a digest put() returned names a blob, error or not
    assert LocalArtifactStore(str(tmp_path / "store")).exists(hash_bytes(b"kept"))


def test_a_store_without_the_capability_gets_a_plain_block() -> None:
    store = FsspecArtifactStore("memory://batching-test")
    assert not isinstance(store, BatchingArtifactStore)
    with batched_writes(store):
        digest = store.put(io.BytesIO(b"plain"))
    assert store.exists(digest)


def test_exists_sees_a_pack_published_a_moment_ago(tmp_path: Path) -> None:
    store = LocalArtifactStore(str(tmp_path / "store"))
    other = LocalArtifactStore(str(tmp_path / "store"))  # another process, say
    digest = hash_bytes(b"small")
    assert not other.exists(digest)  # it has looked (and found no pack) just now
    with batched_writes(store):
        assert store.put(io.BytesIO(b"small")) == digest
    assert store.exists(digest) and other.exists(digest)  # no stale answer right after
