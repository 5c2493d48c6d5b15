"""Files on disk as dataset trees: scanning a file or folder, digests through the stat cache,
and how a folder differs from a stored version (``loopml data status``).

>>> files = scan(Path("data/train"))  # doctest: +SKIP
>>> status_of(files, stored_entries, cache)  # doctest: +SKIP
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from loopml.core.errors import ConflictError, NotFoundError
from loopml.core.hashing import CHUNK_SIZE, Digest, StreamHasher, hash_bytes
from loopml.data.statcache import FileStat, StatCache
from loopml.stores.artifacts.trees import TreeEntry, check_tree_path

__all__ = [
    "LocalFile",
    "WorkspaceStatus",
    "check_unchanged",
    "digests",
    "fingerprint",
    "scan",
    "status_of",
]

Progress = Callable[[int, int], None]


class LocalFile(NamedTuple):
    """A regular file found by :func:`scan`: its path inside the tree and its stat."""

    relative: str
    stat: FileStat

    @property
    def path(self) -> Path:
        return Path(self.stat.path)


def scan(source: Path) -> list[LocalFile]:
    """The regular file ``source``, or every regular file under the folder ``source``, sorted
    by tree path. Symlinks and empty folders are not part of a tree; one ``lstat`` per file."""
    try:
        top = source.lstat()
    except FileNotFoundError as exc:
        raise NotFoundError(f"{source}: no such file or folder.") from exc
    except OSError as exc:
        raise NotFoundError(f"Cannot read {source}: {exc.strerror}.") from exc
    absolute = source.absolute()
    if not source.is_dir():
        return [LocalFile(source.name, FileStat.of(str(absolute), top))]
    files = [
        LocalFile(relative, FileStat.of(path, stat))
        for relative, path, stat in _walk(str(absolute), "")
    ]
    files.sort(key=lambda file: file.relative)
    return files


def _walk(folder: str, prefix: str) -> Iterator[tuple[str, str, os.stat_result]]:
    try:
        entries = list(os.scandir(folder))
    except OSError as exc:  # a tree must not silently miss an unreadable folder
        raise NotFoundError(f"Cannot list the files under {folder}: {exc.strerror}.") from exc
    for entry in entries:
        relative = prefix + entry.name
        if entry.is_dir(follow_symlinks=False):
            yield from _walk(entry.path, relative + "/")
        elif entry.is_file(follow_symlinks=False):
            if not entry.name.isascii() or "\\" in entry.name:  # the only unsafe names
                check_tree_path(relative)
            yield relative, entry.path, entry.stat(follow_symlinks=False)


def fingerprint(files: Sequence[LocalFile]) -> str:
    """A digest of every file's tree path and stat: equal only while nothing was touched."""
    text = "\n".join(
        f"{f.relative}\t{f.stat.size}\t{f.stat.mtime_ns}\t{f.stat.ctime_ns}\t{f.stat.inode}"
        for f in files
    )
    return hash_bytes(text.encode("utf-8", "surrogateescape")).hexdigest


def digests(
    files: Sequence[LocalFile],
    cache: StatCache,
    *,
    hash_file: Callable[[LocalFile], Digest] | None = None,
    usable: Callable[[Digest], bool] | None = None,
    progress: Progress | None = None,
) -> list[TreeEntry]:
    """Tree entries for ``files``: digests from the stat cache where ``usable`` accepts them,
    the rest computed by ``hash_file`` (default: read and hash; adding passes one that stores
    the file as it hashes it, and ``usable`` = "the store has that blob")."""
    started = time.time_ns()
    known = cache.lookup([file.stat for file in files])
    compute = hash_file or _hash_local
    entries = []
    hashed = []
    for done, file in enumerate(files, start=1):
        digest = known.get(file.stat.path)
        if digest is None or (usable is not None and not usable(digest)):
            digest = compute(file)
            hashed.append((file.stat, digest))
        entries.append(TreeEntry(file.relative, digest, file.stat.size))
        if progress is not None:
            progress(done, len(files))
    cache.record(hashed, now_ns=started)
    return entries


def _hash_local(file: LocalFile) -> Digest:
    hasher = StreamHasher()
    with file.path.open("rb") as stream:
        while chunk := stream.read(CHUNK_SIZE):
            hasher.update(chunk)
    return hasher.digest()


def check_unchanged(files: Sequence[LocalFile]) -> None:
    """Raise :class:`ConflictError` if a file changed since :func:`scan` (it was being
    written while it was read, so what was read may be torn)."""
    for file in files:
        try:
            now = FileStat.of(file.stat.path, os.lstat(file.stat.path))
        except OSError:
            now = None
        if now != file.stat:
            raise ConflictError(
                f"{file.path} changed while it was being read; nothing was recorded. "
                "Retry once whatever is writing it has finished."
            )


@dataclass(frozen=True)
class WorkspaceStatus:
    """How the files at ``source`` differ from a stored tree (paths sorted)."""

    source: str
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    modified: list[str] = field(default_factory=list)
    unchanged: int = 0

    @property
    def clean(self) -> bool:
        return not (self.added or self.removed or self.modified)


def status_of(
    source: Path, files: Sequence[LocalFile], stored: Sequence[TreeEntry], cache: StatCache
) -> WorkspaceStatus:
    """Compare ``files`` with the ``stored`` tree; only files whose stat is not cached and whose
    size matches are read."""
    by_path = {entry.path: entry for entry in stored}
    present = {file.relative for file in files}
    same_size = [
        file
        for file in files
        if file.relative in by_path and by_path[file.relative].size == file.stat.size
    ]
    current = {entry.path: entry.digest for entry in digests(same_size, cache)}
    modified = [
        file.relative
        for file in files
        if file.relative in by_path and current.get(file.relative) != by_path[file.relative].digest
    ]
    return WorkspaceStatus(
        source=str(source),
        added=[file.relative for file in files if file.relative not in by_path],
        removed=sorted(path for path in by_path if path not in present),
        modified=modified,
        unchanged=len(same_size) - sum(1 for path in modified if path in current),
    )
