"""Pack files: many small blobs in one file (git's answer to the cost of many tiny files).

Creating a file costs far more than writing a few hundred bytes into one, so the small blobs
put inside :meth:`LocalArtifactStore.batched_writes` are appended to one pack instead of
becoming a file each::

    <root>/packs/<id>.pack   the blobs' bytes, back to back
    <root>/packs/<id>.idx    one line per blob: "<hex digest> <offset> <size>", sorted

A pack is written in ``<root>/tmp/`` and renamed into place before its index, so an index
always names a complete pack; a crash leaves at most an unindexed pack or a temp file, never
a visible partial blob. Readers verify every blob against its digest as they do loose ones.
"""

from __future__ import annotations

import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from loopml.core.hashing import Digest

PACKED_BLOB_MAX = 256 << 10
"""Blobs up to this size go into packs (inside a batch); bigger ones stay loose files."""
PACK_MAX = 256 << 20
"""A pack that reaches this size is finished and the next small blob starts a new one."""
_RACY_NS = 2_000_000_000  # a folder mtime this recent may hide a second change in its tick
_LOOK_AGAIN_NS = 100_000_000


@dataclass(frozen=True, slots=True)
class PackedBlob:
    """Where one blob lives: its pack file, offset and size."""

    pack: Path
    offset: int
    size: int

    def read(self) -> bytes:
        with self.pack.open("rb") as stream:
            stream.seek(self.offset)
            data = stream.read(self.size)
        if len(data) != self.size:
            raise OSError(f"pack {self.pack} is shorter than its index says")
        return data


class PackIndex:
    """Every indexed blob of the packs in ``folder``; reloaded when the folder changes."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._seen_mtime: int | None = None
        self._loaded: set[str] = set()  # index file names read so far
        self._looked_at = 0  # time.monotonic_ns() of the last look for new packs
        self._blobs: dict[str, PackedBlob] = {}

    def find(self, digest: Digest, *, fresh: bool = True) -> PackedBlob | None:
        """Where the blob is packed, or None. A miss looks for new packs first; with ``fresh``
        False at most every :data:`_LOOK_AGAIN_NS` (for "do we have it already?" checks, where
        a blob another process packed a moment ago may be stored twice, harmlessly)."""
        found = self._blobs.get(digest.hexdigest)
        if found is not None and fresh and not found.pack.exists():
            found = None  # removed by loopml gc since it was indexed
        if found is None:
            now = time.monotonic_ns()
            if fresh or now - self._looked_at > _LOOK_AGAIN_NS:
                self._looked_at = now
                if self._refresh():
                    found = self._blobs.get(digest.hexdigest)
        return found

    def _refresh(self) -> bool:
        """Read the indexes added since the last look (all of them again when one was removed);
        True if anything changed. The folder's
        mtime says whether to look, unless it is so recent that another index could have
        landed in the same timestamp tick."""
        try:
            mtime = self.folder.stat().st_mtime_ns
        except FileNotFoundError:
            return False
        if mtime == self._seen_mtime and time.time_ns() - mtime > _RACY_NS:
            return False
        indexes = [entry for entry in os.scandir(self.folder) if entry.name.endswith(".idx")]
        loaded, blobs = self._loaded, self._blobs
        removed = bool(loaded - {entry.name for entry in indexes})
        if removed:  # packs removed by loopml gc: read every index again
            loaded, blobs = set(), {}
        new = [entry for entry in indexes if entry.name not in loaded]
        blobs = dict(blobs)
        for entry in new:
            pack = self.folder / (entry.name[: -len(".idx")] + ".pack")
            blobs.update(_read_index(Path(entry.path), pack))
            loaded.add(entry.name)
        self._blobs = blobs  # one assignment: readers on other threads see old or new
        self._loaded = loaded
        self._seen_mtime = mtime
        return bool(new) or removed


def _read_index(index: Path, pack: Path) -> dict[str, PackedBlob]:
    blobs = {}
    with index.open("r", encoding="ascii") as lines:
        for line in lines:
            hexdigest, offset, size = line.split()
            blobs[hexdigest] = PackedBlob(pack, int(offset), int(size))
    return blobs


class PackWriter:
    """Appends blobs to a temp pack; :meth:`publish` moves it and its index into place."""

    def __init__(self, tmp_folder: Path, packs_folder: Path) -> None:
        self._tmp_folder = tmp_folder
        self._packs_folder = packs_folder
        self._name = f"pack-{secrets.token_hex(10)}"
        self._path = tmp_folder / f"{self._name}.pack"
        self._stream = self._path.open("xb")
        self._size = 0
        self.blobs: dict[str, tuple[int, int]] = {}  # hex digest → (offset, size)

    @property
    def full(self) -> bool:
        return self._size >= PACK_MAX

    def add(self, digest: Digest, data: bytes) -> None:
        if digest.hexdigest in self.blobs:
            return
        self._stream.write(data)
        self.blobs[digest.hexdigest] = (self._size, len(data))
        self._size += len(data)

    def read(self, digest: Digest) -> bytes | None:
        """A blob added but not yet published (readable by the writing thread)."""
        where = self.blobs.get(digest.hexdigest)
        if where is None:
            return None
        self._stream.flush()
        return PackedBlob(self._path, *where).read()

    def publish(self) -> None:
        """Pack first, then its index: an index never names a missing or partial pack."""
        self._stream.close()
        if not self.blobs:
            self._path.unlink(missing_ok=True)
            return
        self._packs_folder.mkdir(parents=True, exist_ok=True)
        index_tmp = self._tmp_folder / f"{self._name}.idx"
        lines = "".join(
            f"{hexdigest} {offset} {size}\n"
            for hexdigest, (offset, size) in sorted(self.blobs.items())
        )
        index_tmp.write_text(lines, encoding="ascii")
        os.replace(self._path, self._packs_folder / f"{self._name}.pack")
        os.replace(index_tmp, self._packs_folder / f"{self._name}.idx")

    def discard(self) -> None:
        self._stream.close()
        self._path.unlink(missing_ok=True)
