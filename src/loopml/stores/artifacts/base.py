"""The artifact store interface: content-addressed blobs.

A blob's name is the BLAKE3 digest of its bytes. ``put`` hashes while it streams, publishes
atomically (a reader never sees a partial blob) and stores identical content once. ``open``
verifies while reading and raises :class:`IntegrityError` at the end if the bytes changed.
Directories are tree objects built on top (see :mod:`loopml.stores.artifacts.trees`).
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import BinaryIO, Protocol, runtime_checkable

from loopml.core.hashing import Digest


class ArtifactStore(Protocol):
    uri: str

    def put(self, data: BinaryIO) -> Digest:
        """Store the stream's bytes; returns their digest. Idempotent for equal content."""
        ...

    def open(self, digest: Digest) -> BinaryIO:
        """A reader over the blob; :class:`NotFoundError` if absent, :class:`IntegrityError`
        raised by ``read`` at end of stream if the bytes do not match the digest."""
        ...

    def exists(self, digest: Digest) -> bool: ...

    def size(self, digest: Digest) -> int:
        """Size in bytes; :class:`NotFoundError` if absent."""
        ...


@runtime_checkable
class BatchingArtifactStore(Protocol):
    """A store that can make many puts durable at once (an optional capability)."""

    def batched_writes(self) -> AbstractContextManager[None]:
        """Puts made inside are durable when the block exits normally (one flush for all)."""
        ...


def batched_writes(store: ArtifactStore) -> AbstractContextManager[None]:
    """``store.batched_writes()`` where the store has it; otherwise a no-op block."""
    if isinstance(store, BatchingArtifactStore):
        return store.batched_writes()
    return nullcontext()
