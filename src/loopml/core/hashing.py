"""Content digests: a value object that carries its algorithm, and streamed hashing."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import BinaryIO

from blake3 import blake3

from loopml.core.errors import InvalidInputError

ALGORITHM = "blake3"
CHUNK_SIZE = 1 << 20
_HEX = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True, slots=True)
class Digest:
    """``blake3:<64 hex>``. Parse untrusted text with :meth:`parse`."""

    algorithm: str
    hexdigest: str

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hexdigest}"

    @classmethod
    def parse(cls, text: str) -> Digest:
        algorithm, sep, hexdigest = text.partition(":")
        if not sep:
            algorithm, hexdigest = ALGORITHM, text
        if algorithm != ALGORITHM or not _HEX.fullmatch(hexdigest):
            raise InvalidInputError(
                f"Invalid digest {text!r}: expected '{ALGORITHM}:' followed by 64 lowercase "
                "hex characters."
            )
        return cls(algorithm, hexdigest)

    @property
    def shard(self) -> tuple[str, str]:
        """The two-level location ``(ab, cdef…)`` used by content-addressed stores."""
        return self.hexdigest[:2], self.hexdigest[2:]


class StreamHasher:
    """Incremental hasher; ``update`` with chunks, then ``digest()``."""

    def __init__(self) -> None:
        # one thread: with 1 MiB chunks more threads only add overhead (measured), and the
        # caller may be overlapping disk writes on the other core
        self._hasher = blake3()
        self.size = 0

    def update(self, chunk: bytes) -> None:
        self._hasher.update(chunk)
        self.size += len(chunk)

    def digest(self) -> Digest:
        return Digest(ALGORITHM, self._hasher.hexdigest())


def hash_bytes(data: bytes) -> Digest:
    hasher = StreamHasher()
    hasher.update(data)
    return hasher.digest()


def hash_chunks(chunks: Iterable[bytes]) -> Digest:
    hasher = StreamHasher()
    for chunk in chunks:
        hasher.update(chunk)
    return hasher.digest()


def iter_chunks(stream: BinaryIO, size: int = CHUNK_SIZE) -> Iterable[bytes]:
    while chunk := stream.read(size):
        yield chunk
