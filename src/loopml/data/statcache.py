"""A stat cache: (path, size, mtime, ctime, inode) → content digest, so unchanged files are
not read again.

Like git's index and DVC's state database: a file whose stat is exactly what it was when it was
hashed is taken to hold the same bytes. An entry is only recorded when the file's times are
older than the moment it was looked at by more than a timestamp tick, so a write landing in the
same tick as the hashing can never be mistaken for "unchanged" (git's "racy clean" case). The
tick is taken as :data:`RACY_NS` (2 s, FAT's) when the file's times are whole seconds (a
filesystem without sub-second times), else :data:`FINE_RACY_NS` (Linux filesystems stamp
times from a clock that ticks every 1–10 ms).

The cache is a plain SQLite file beside the project's other caches. It is a cache: if it is
missing, locked for too long or corrupt, lookups miss and files are hashed again.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import NamedTuple

from loopml.core.hashing import ALGORITHM, Digest

__all__ = ["RACY_NS", "FileStat", "StatCache"]

log = logging.getLogger(__name__)

RACY_NS = 2_000_000_000
"""Entries younger than this are not recorded when their times are whole seconds."""
FINE_RACY_NS = 100_000_000
"""…and younger than this (100 ms, ten times the coarsest kernel clock tick) otherwise."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS files_blake3 (
    path TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    ctime_ns INTEGER NOT NULL,
    inode INTEGER NOT NULL,
    digest TEXT NOT NULL  -- hex of the BLAKE3 digest
) WITHOUT ROWID
"""
# a whole tree: the fingerprint of its files' stats → its tree digest
_TREES_SCHEMA = """
CREATE TABLE IF NOT EXISTS trees_blake3 (
    source TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    digest TEXT NOT NULL
) WITHOUT ROWID
"""


class FileStat(NamedTuple):
    """A local file as the cache keys it: its absolute path and ``lstat`` fields (a tuple:
    a scan makes one per file, and tuples are the cheapest records Python builds)."""

    path: str
    size: int
    mtime_ns: int
    ctime_ns: int
    inode: int

    @classmethod
    def of(cls, path: str, stat: os.stat_result) -> FileStat:
        return cls(path, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino)

    def key(self) -> tuple[int, int, int, int]:
        return (self.size, self.mtime_ns, self.ctime_ns, self.inode)


def _tick(file: FileStat) -> int:
    whole_seconds = file.mtime_ns % 1_000_000_000 == 0 and file.ctime_ns % 1_000_000_000 == 0
    return RACY_NS if whole_seconds else FINE_RACY_NS


class StatCache:
    """Digests of files by their stat, stored in the SQLite file ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, timeout=5, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(_SCHEMA)
            self._db.execute(_TREES_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            self._disable(exc)

    def __enter__(self) -> StatCache:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def lookup(self, files: Sequence[FileStat]) -> dict[str, Digest]:
        """The cached digest of every file in ``files`` whose stat is unchanged, by path."""
        if self._db is None or not files:
            return {}
        wanted = {file.path: file.key() for file in files}
        try:
            rows = self._rows(list(wanted))
        except sqlite3.Error as exc:
            self._disable(exc)
            return {}
        found = {}
        for path, size, mtime_ns, ctime_ns, inode, hexdigest in rows:
            if wanted.get(path) == (size, mtime_ns, ctime_ns, inode) and len(hexdigest) == 64:
                found[path] = Digest(ALGORITHM, hexdigest)
        return found

    def record(self, hashed: Iterable[tuple[FileStat, Digest]], *, now_ns: int) -> None:
        """Remember digests of files looked at no later than ``now_ns`` (racy ones are skipped)."""
        if self._db is None:
            return
        rows = [
            (file.path, *file.key(), digest.hexdigest)
            for file, digest in hashed
            if max(file.mtime_ns, file.ctime_ns) < now_ns - _tick(file)
        ]
        if not rows:
            return
        try:
            with self._db:
                self._db.execute("BEGIN IMMEDIATE")
                self._db.executemany(
                    "INSERT OR REPLACE INTO files_blake3"
                    " (path, size, mtime_ns, ctime_ns, inode, digest) VALUES (?, ?, ?, ?, ?, ?)",
                    rows,
                )
        except sqlite3.Error as exc:
            self._disable(exc)

    def tree(self, source: str, fingerprint: str) -> Digest | None:
        """The tree digest recorded for ``source`` if its files' stats still match."""
        if self._db is None:
            return None
        try:
            row = self._db.execute(
                "SELECT digest FROM trees_blake3 WHERE source = ? AND fingerprint = ?",
                (source, fingerprint),
            ).fetchone()
        except sqlite3.Error as exc:
            self._disable(exc)
            return None
        return None if row is None else Digest(ALGORITHM, row[0])

    def record_tree(self, source: str, fingerprint: str, digest: Digest) -> None:
        """Remember ``source``'s tree digest; only call it when every file's digest came
        from this cache (so none of them is racy)."""
        if self._db is None:
            return
        try:
            with self._db:
                self._db.execute(
                    "INSERT OR REPLACE INTO trees_blake3 (source, fingerprint, digest)"
                    " VALUES (?, ?, ?)",
                    (source, fingerprint, digest.hexdigest),
                )
        except sqlite3.Error as exc:
            self._disable(exc)

    def _rows(self, paths: list[str]) -> list[tuple[str, int, int, int, int, str]]:
        assert self._db is not None  # checked by the caller
        columns = "path, size, mtime_ns, ctime_ns, inode, digest"
        if len(paths) == 1:
            query = f"SELECT {columns} FROM files_blake3 WHERE path = ?"
            return list(self._db.execute(query, paths))
        # one range scan over the common folder instead of a query per file
        prefix = os.path.commonpath([min(paths), max(paths)]).rstrip(os.sep) + os.sep
        upper = prefix[:-1] + chr(ord(os.sep) + 1)
        query = f"SELECT {columns} FROM files_blake3 WHERE path >= ? AND path < ?"
        return list(self._db.execute(query, (prefix, upper)))

    def _disable(self, exc: Exception) -> None:
        log.warning("Not using the stat cache %s: %s", self.path, exc)
        self.close()
