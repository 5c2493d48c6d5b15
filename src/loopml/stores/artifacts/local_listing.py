"""What a local artifact store folder holds, for garbage collection: loose blobs, packs and
the leftovers of interrupted writes in ``tmp/`` (``put-*.part``, unpublished packs, scratch
folders of ``models register`` and pipeline steps).

A pack is listed with the digests its index names; a pack whose index is missing (a crash
between publishing the pack and its index) names none, so nothing can be read from it.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from stat import S_ISDIR as stat_is_dir

from loopml.stores.artifacts.base import StoredObject

BLOB, PACK, TEMP = "blob", "pack", "temp"


def list_local(root: Path) -> Iterator[StoredObject]:
    """Every blob under ``root/blobs``, pack under ``root/packs`` and entry of ``root/tmp``."""
    yield from _blobs(root / "blobs")
    yield from _packs(root / "packs")
    yield from _temps(root / "tmp")


def remove_local(root: Path, item: StoredObject, cutoff: float) -> bool:
    """Remove one listed object unless it is newer than ``cutoff``; True if it is gone.

    A blob (or pack) is first renamed out of the way, then its mtime is read: a put that
    found it stored touched it before the rename (then it is put back), or finds it missing
    after the rename and writes it again — so a put never returns a digest whose blob this
    removes."""
    if item.kind == BLOB:
        hexdigest = item.name.partition(":")[2]
        return _remove_checked(root, [root / "blobs" / hexdigest[:2] / hexdigest[2:]], cutoff)
    if item.kind == PACK:
        stem = root / "packs" / item.name.removesuffix(".pack")
        # the index first: a pack without an index is never read from
        return _remove_checked(root, [stem.with_suffix(".idx"), stem.with_suffix(".pack")], cutoff)
    if item.kind == TEMP:
        path = root / "tmp" / item.name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        return True
    raise ValueError(f"unknown kind of stored object: {item.kind!r}")


def _remove_checked(root: Path, paths: list[Path], cutoff: float) -> bool:
    trash = root / "tmp"
    trash.mkdir(parents=True, exist_ok=True)
    moved: list[tuple[Path, Path]] = []
    for path in paths:
        aside = trash / f"gc-{secrets.token_hex(8)}-{path.name}"
        try:
            os.replace(path, aside)
        except FileNotFoundError:
            continue
        moved.append((path, aside))
    if any(os.stat(aside).st_mtime > cutoff for _path, aside in moved):
        for path, aside in reversed(moved):  # the pack before its index
            os.replace(aside, path)
        return False
    for _path, aside in moved:
        os.unlink(aside)
    return True


def _entries(folder: Path) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(folder) as entries:
            return list(entries)
    except FileNotFoundError:
        return []


def _blobs(folder: Path) -> Iterator[StoredObject]:
    for shard in _entries(folder):
        if not shard.is_dir(follow_symlinks=False) or len(shard.name) != 2:
            continue
        for entry in _entries(Path(shard.path)):
            with contextlib.suppress(FileNotFoundError):  # removed while we looked
                stat = entry.stat(follow_symlinks=False)
                name = f"blake3:{shard.name}{entry.name}"
                yield StoredObject(BLOB, name, stat.st_size, stat.st_mtime)


def _packs(folder: Path) -> Iterator[StoredObject]:
    entries = {entry.name: entry for entry in _entries(folder)}
    for name, entry in entries.items():
        if not name.endswith(".pack"):
            continue
        index = entries.get(name.removesuffix(".pack") + ".idx")
        try:
            stat = entry.stat()
            size, mtime = stat.st_size, stat.st_mtime
            blobs: tuple[str, ...] = ()
            if index is not None:
                index_stat = index.stat()
                size, mtime = size + index_stat.st_size, max(mtime, index_stat.st_mtime)
                text = Path(index.path).read_text(encoding="ascii")
                blobs = tuple(f"blake3:{line.split()[0]}" for line in text.splitlines() if line)
        except FileNotFoundError:  # removed while we looked
            continue
        yield StoredObject(PACK, name, size, mtime, blobs)
    for name, entry in entries.items():  # an index whose pack is gone names nothing readable
        if name.endswith(".idx") and name.removesuffix(".idx") + ".pack" not in entries:
            with contextlib.suppress(FileNotFoundError):
                stat = entry.stat()
                pack = name.removesuffix(".idx") + ".pack"
                yield StoredObject(PACK, pack, stat.st_size, stat.st_mtime)


def _temps(folder: Path) -> Iterator[StoredObject]:
    for entry in _entries(folder):
        with contextlib.suppress(FileNotFoundError):
            size, mtime = size_and_newest_mtime(Path(entry.path))
            yield StoredObject(TEMP, entry.name, size, mtime)


def size_and_newest_mtime(path: Path) -> tuple[int, float]:
    """A file's size and mtime; for a folder, the sum of its files' sizes and the newest mtime
    inside (a scratch folder still being written to is young). Symlinks are not followed."""
    stat = os.lstat(path)
    if not stat_is_dir(stat.st_mode):
        return stat.st_size, stat.st_mtime
    size, newest = 0, stat.st_mtime
    for dirpath, dirnames, filenames in os.walk(path):
        for name in [*dirnames, *filenames]:
            with contextlib.suppress(FileNotFoundError):
                inner = os.lstat(os.path.join(dirpath, name))
                newest = max(newest, inner.st_mtime)
                if name in filenames:
                    size += inner.st_size
    return size, newest
