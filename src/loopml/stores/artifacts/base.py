"""The artifact store interface: content-addressed blobs.

A blob's name is the BLAKE3 digest of its bytes. ``put`` hashes while it streams, publishes
atomically (a reader never sees a partial blob) and stores identical content once. ``open``
verifies while reading and raises :class:`IntegrityError` at the end if the bytes changed.
Directories are tree objects built on top (see :mod:`loopml.stores.artifacts.trees`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
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


@dataclass(frozen=True, slots=True)
class StoredObject:
    """One thing a store holds, as garbage collection sees it.

    ``kind``: ``"blob"`` (``name`` is its digest), ``"pack"`` (``name`` is the pack's file
    name; ``blobs`` the digests inside, none when its index is missing) or ``"temp"`` (a
    leftover of an interrupted write in the store's ``tmp/`` folder). ``mtime`` is seconds
    since the epoch: when it was last written (or found again by a put of the same bytes).
    """

    kind: str
    name: str
    size: int
    mtime: float
    blobs: tuple[str, ...] = ()


@runtime_checkable
class CollectableArtifactStore(Protocol):
    """A store that can list what it holds and remove it (what ``loopml gc`` needs)."""

    def list_stored(self) -> Iterator[StoredObject]:
        """Every blob, pack and temp leftover, in no particular order."""
        ...

    def remove_stored(self, item: StoredObject, *, cutoff: float) -> bool:
        """Remove one listed object unless it was written (or found again by a put) after
        ``cutoff`` (seconds since the epoch); True if removed, or gone already."""
        ...


@runtime_checkable
class ScratchArtifactStore(Protocol):
    """A store with a local scratch folder: large temp files written there are on the
    store's filesystem (one rename away from it) and found by ``loopml gc`` after a crash."""

    def scratch_folder(self) -> Path:
        """The store's ``tmp/`` folder, created if needed."""
        ...


@runtime_checkable
class ClaimingArtifactStore(Protocol):
    """A store whose blobs garbage collection may remove: reusing a stored blob without
    putting it again must claim it, so it is not removed before the reuse is recorded."""

    def claim(self, digest: Digest) -> bool:
        """Whether the blob is stored; if so, it counts as just written."""
        ...


def claim(store: ArtifactStore, digest: Digest) -> bool:
    """``store.claim(digest)`` where the store has it; otherwise ``store.exists(digest)``."""
    if isinstance(store, ClaimingArtifactStore):
        return store.claim(digest)
    return store.exists(digest)


def scratch_folder(store: ArtifactStore) -> Path | None:
    """The store's scratch folder, or None for stores without one (then use the system's)."""
    if isinstance(store, ScratchArtifactStore):
        return store.scratch_folder()
    return None
