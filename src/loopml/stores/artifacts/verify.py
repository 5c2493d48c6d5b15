"""A reader that checks a blob against its digest while the bytes stream through.

Stores return it from ``open``: nothing is buffered, the hash is updated as the caller reads,
and reaching the end of the stream raises :class:`IntegrityError` if the bytes were changed.
A caller that stops before the end gets no verdict, so read to the end to be sure.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

from loopml.core.errors import IntegrityError
from loopml.core.hashing import CHUNK_SIZE, Digest, StreamHasher
from loopml.stores.artifacts.chunked_reader import RawReader


class VerifyingReader(RawReader):
    """Read-only, forward-only view of ``raw`` that verifies it hashes to ``expected``.

    Supports ``read(n)``, ``read()``, ``readinto``, ``readline`` and iteration, which yields
    chunks of up to 1 MiB (not lines). Closing the reader closes ``raw``.

    >>> import io
    >>> from loopml.core.hashing import hash_bytes
    >>> VerifyingReader(io.BytesIO(b"abc"), hash_bytes(b"abc")).read()
    b'abc'
    """

    def __init__(self, raw: BinaryIO, expected: Digest) -> None:
        super().__init__()
        self._raw = raw
        self._expected = expected
        self._hasher = StreamHasher()
        self._verified = False

    @property
    def expected(self) -> Digest:
        return self._expected

    @property
    def bytes_read(self) -> int:
        return self._hasher.size

    def seekable(self) -> bool:
        return False

    def writable(self) -> bool:
        return False

    def read(self, size: int | None = -1) -> bytes:
        self._check_open()
        if size is None or size < 0:
            return self.readall()
        if size == 0:
            return b""
        data = self._raw.read(size)
        self._consume(data)
        return data

    def readall(self) -> bytes:
        return b"".join(iter(lambda: self.read(CHUNK_SIZE), b""))

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        chunk = self.read(CHUNK_SIZE)
        if not chunk:
            raise StopIteration
        return chunk

    def __enter__(self) -> VerifyingReader:
        self._check_open()
        return self

    def close(self) -> None:
        if not self.closed:
            try:
                self._raw.close()
            finally:
                super().close()

    def _consume(self, data: bytes) -> None:
        if data:
            self._hasher.update(data)
        else:
            self._verify()

    def _verify(self) -> None:
        if self._verified:
            return
        actual = self._hasher.digest()
        if actual != self._expected:
            # stays unverified, so every later read at the end raises again
            raise IntegrityError(
                f"Blob {self._expected} is corrupted or was tampered with: the stored bytes "
                f"do not match its digest (they hash to {actual}, {self._hasher.size} bytes "
                "read). Do not use this blob; restore it from a backup or log it again."
            )
        self._verified = True

    def _check_open(self) -> None:
        if self.closed:
            raise ValueError("I/O operation on a closed VerifyingReader.")
