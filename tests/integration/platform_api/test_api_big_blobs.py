"""A blob far larger than the server's memory budget streams up and down through the platform
API without the server holding it."""

from __future__ import annotations

import io
from pathlib import Path
from typing import BinaryIO

from loopml.core.hashing import CHUNK_SIZE, hash_chunks
from loopml.stores.remote.artifacts import HttpArtifactStore
from tests.fixtures.server import PlatformServer

MiB = 1 << 20
BIG_BLOB = 320 * MiB
SERVER_MEMORY_BUDGET = 128 * MiB


class _Generated(io.RawIOBase, BinaryIO):
    """``size`` bytes made on the fly from a 1 MiB block; never holds more than a block."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self._left = size
        self._block = bytes(range(256)) * (MiB // 256)

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        n = min(self._left, len(self._block) if size is None or size < 0 else size)
        n = min(n, len(self._block))
        self._left -= n
        return self._block[:n]


def _peak_rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM in /proc status")


def test_a_big_blob_streams_up_and_down_in_bounded_server_memory(server: PlatformServer) -> None:
    source = _Generated(BIG_BLOB)
    expected = hash_chunks(iter(lambda: source.read(CHUNK_SIZE), b""))
    blobs = HttpArtifactStore(server.url)
    digest = blobs.put(_Generated(BIG_BLOB))
    assert digest == expected
    assert blobs.size(digest) == BIG_BLOB
    with blobs.open(digest) as reader:
        assert hash_chunks(iter(lambda: reader.read(CHUNK_SIZE), b"")) == expected
    blobs.close()
    peak = _peak_rss(server.pid)
    assert peak < SERVER_MEMORY_BUDGET, f"server peaked at {peak / MiB:.0f} MiB"
