"""Forward-only binary readers: :class:`RawReader` (a read-only stream whose ``readinto`` is
its ``read``) and :class:`ChunkedReader`, over a source that yields its bytes a chunk at a time.

The decrypting reader of an encrypted store (one chunk a frame) and the remote store's
download (one chunk a piece of the response) are both a ChunkedReader: a subclass says how the
next chunk is got and what closing releases; reading, ``readinto`` and closing are written
once. The verifying and counting readers are RawReaders.
"""

from __future__ import annotations

import io
from typing import BinaryIO

from loopml.core.hashing import CHUNK_SIZE


class RawReader(io.RawIOBase, BinaryIO):
    """A readable raw stream defined by its ``read``; ``readinto`` copies what it returns."""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        view = memoryview(buffer).cast("B")
        data = self.read(len(view))
        view[: len(data)] = data
        return len(data)


class ChunkedReader(RawReader):
    """Reads what :meth:`_next_chunk` yields (None at the end), in pieces of any size;
    closing it calls :meth:`_release` once."""

    def __init__(self) -> None:
        super().__init__()
        self._buffer = memoryview(b"")

    def _next_chunk(self) -> bytes | None:
        """The next bytes of the source (maybe empty), or None once it is exhausted."""
        raise NotImplementedError

    def _release(self) -> None:
        """Close the source (called once, by :meth:`close`)."""
        raise NotImplementedError

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            return b"".join(iter(lambda: self.read(CHUNK_SIZE), b""))
        while not self._buffer:
            chunk = self._next_chunk()
            if chunk is None:
                return b""
            self._buffer = memoryview(chunk)
        taken = bytes(self._buffer[:size])
        self._buffer = self._buffer[size:]
        return taken

    def close(self) -> None:
        if not self.closed:
            try:
                self._release()
            finally:
                super().close()
