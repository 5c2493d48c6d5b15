"""Key rotation: which key each stored blob is encrypted with, and moving them to the
current one (``loopml encryption status`` and ``loopml encryption rotate``)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from loopml.core.hashing import Digest
from loopml.stores.artifacts.encrypted import EncryptedArtifactStore

PLAINTEXT = "plaintext"
"""The key id counted for blobs stored before encryption was turned on."""


@dataclass
class KeyCensus:
    """How many blobs each key encrypts (:data:`PLAINTEXT`: none), and how many were stored
    again under the current key by a rotation."""

    current_key_id: str
    blobs_by_key: Counter[str] = field(default_factory=Counter)
    reencrypted: int = 0

    @property
    def blobs(self) -> int:
        return sum(self.blobs_by_key.values())

    @property
    def outdated(self) -> int:
        """Blobs not (yet) under the current key."""
        return self.blobs - self.blobs_by_key[self.current_key_id]


def stored_digests(store: EncryptedArtifactStore) -> Iterator[Digest]:
    """Each stored blob once (loose or packed)."""
    seen: set[str] = set()
    for item in store.list_stored():
        names = (item.name,) if item.kind == "blob" else item.blobs if item.kind == "pack" else ()
        for name in names:
            text = name if name.startswith("blake3:") else f"blake3:{name}"
            if text not in seen:
                seen.add(text)
                yield Digest.parse(text)


def count_keys(store: EncryptedArtifactStore) -> KeyCensus:
    """Which key each stored blob is encrypted with."""
    census = KeyCensus(store.keys.current.key_id)
    for digest in stored_digests(store):
        census.blobs_by_key[store.key_id_of(digest) or PLAINTEXT] += 1
    return census


def rotate_keys(
    store: EncryptedArtifactStore, *, progress: Callable[[Digest], None] | None = None
) -> KeyCensus:
    """Store every blob not under the current key again under it (plaintext ones included),
    each decrypted with its own key and verified against its digest first. Safe to run again
    after an interruption: blobs already moved are skipped. The census counts the result."""
    census = KeyCensus(store.keys.current.key_id)
    for digest in stored_digests(store):
        if store.reencrypt(digest):
            census.reencrypted += 1
            if progress is not None:
                progress(digest)
        census.blobs_by_key[census.current_key_id] += 1
    return census
