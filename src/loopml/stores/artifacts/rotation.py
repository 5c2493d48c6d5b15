"""Key rotation: which key each stored blob is encrypted with, and moving them to the
current one (``loopml encryption status`` and ``loopml encryption rotate``)."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from loopml.core.hashing import Digest
from loopml.stores.artifacts.base import StoredObject
from loopml.stores.artifacts.encrypted import EncryptedArtifactStore
from loopml.stores.artifacts.local import LocalArtifactStore

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


def stored_digests(
    store: EncryptedArtifactStore, packs: list[StoredObject] | None = None
) -> Iterator[Digest]:
    """Each stored blob once (loose or packed); the packs seen are added to ``packs``."""
    seen: set[str] = set()
    for item in store.list_stored():
        names = (item.name,) if item.kind == "blob" else item.blobs if item.kind == "pack" else ()
        if item.kind == "pack" and packs is not None:
            packs.append(item)
        for name in names:
            text = _digest_text(name)
            if text not in seen:
                seen.add(text)
                yield Digest.parse(text)


def _digest_text(name: str) -> str:
    return name if name.startswith("blake3:") else f"blake3:{name}"


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
    packs: list[StoredObject] = []
    for digest in stored_digests(store, packs):
        if store.reencrypt(digest):
            census.reencrypted += 1
            if progress is not None:
                progress(digest)
        census.blobs_by_key[census.current_key_id] += 1
    _remove_packs_held_loose(store, packs)
    return census


def _remove_packs_held_loose(store: EncryptedArtifactStore, packs: list[StoredObject]) -> None:
    """Remove each pack of a local store whose every blob is now stored on its own: a packed
    blob is stored again as a single file under the current key, so the pack holds only
    copies under an old key, which must not outlive the rotation (a leaked old key would
    still open them). Readers find the single files first; a pack that a kill leaves is
    removed by the next rotation, and its half-removed files by ``loopml gc``."""
    inner = store.inner
    if not isinstance(inner, LocalArtifactStore):
        return
    for pack in packs:
        held = (inner.blob_path(Digest.parse(_digest_text(n))) for n in pack.blobs)
        if all(path.is_file() for path in held):
            inner.remove_stored(pack, cutoff=time.time())
