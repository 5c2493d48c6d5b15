"""Directories as tree objects: a canonical JSON listing of (path, digest, size), itself a blob.

The encoding is canonical, so equal directories get equal tree digests whatever order their
files were listed in::

    {"type":"tree","entries":[{"path":"a/b.txt","digest":"blake3:…","size":3},…]}

Entries are sorted by path; paths are relative, POSIX, normalised and never leave the tree.
Only regular files are recorded: empty folders and symlinks are not (like git, minus links).
"""

from __future__ import annotations

import io
import json
import os
import posixpath
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from loopml.core.errors import (
    IntegrityError,
    InvalidInputError,
    LoopMLError,
    NotFoundError,
    PermissionDeniedError,
)
from loopml.core.hashing import CHUNK_SIZE, Digest
from loopml.stores.artifacts.base import ArtifactStore
from loopml.stores.artifacts.chunked_reader import RawReader

TREE_TYPE = "tree"
_DRIVE = re.compile(r"^[A-Za-z]:")
# Canonical JSON starts with exactly these bytes; anything else is not a tree.
_TREE_PREFIX = b'{"type":"tree","entries":['


@dataclass(frozen=True, slots=True)
class TreeEntry:
    """One file of a tree: its relative POSIX path, content digest and size in bytes."""

    path: str
    digest: Digest
    size: int

    def __post_init__(self) -> None:
        check_tree_path(self.path)
        if not isinstance(self.size, int) or isinstance(self.size, bool) or self.size < 0:
            raise InvalidInputError(
                f"The size of tree entry {self.path!r} must be a non-negative integer. "
                f"Got {self.size!r} instead."
            )


def check_tree_path(path: str) -> None:
    """Raise :class:`InvalidInputError` unless ``path`` is a safe relative POSIX path."""
    problem = _tree_path_problem(path)
    if problem:
        raise InvalidInputError(
            f"Invalid tree entry path {path!r}: {problem}. A tree path must be relative, "
            "use '/' separators, and stay inside the tree (like 'data/train.csv')."
        )


def _tree_path_problem(path: object) -> str:
    if not isinstance(path, str) or not path:
        return "it must be a non-empty string"
    if "\\" in path or "\x00" in path:
        return "it contains a backslash or a NUL character"
    if path.startswith("/") or _DRIVE.match(path):
        return "it is absolute (or starts with a Windows drive)"
    if ".." in path.split("/"):
        return "it escapes the tree with '..'"
    if posixpath.normpath(path) != path or path == ".":
        return "it is not normalised (no '.', empty parts or trailing '/')"
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return "it is not valid UTF-8"
    return ""


def encode_tree(entries: Iterable[TreeEntry]) -> bytes:
    """The canonical bytes of a tree. Rejects duplicate paths and file/folder clashes."""
    ordered = sorted(entries, key=lambda entry: entry.path)
    _check_unique(ordered)
    document = {
        "type": TREE_TYPE,
        "entries": [
            {"path": entry.path, "digest": str(entry.digest), "size": entry.size}
            for entry in ordered
        ],
    }
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def decode_tree(data: bytes, digest: Digest | str = "<unsaved>") -> list[TreeEntry]:
    """Parse canonical tree bytes; :class:`InvalidInputError` naming ``digest`` otherwise."""
    if not data.startswith(_TREE_PREFIX):
        raise _not_a_tree(digest, "it does not start like a tree object")
    try:
        document = json.loads(data.decode("utf-8"))
        entries = [
            TreeEntry(item["path"], Digest.parse(item["digest"]), item["size"])
            for item in document["entries"]
        ]
        canonical = set(document) == {"type", "entries"} and encode_tree(entries) == data
    except (UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
        raise _not_a_tree(digest, f"it is not valid tree JSON ({exc})") from exc
    except InvalidInputError as exc:
        raise _not_a_tree(digest, f"it has an invalid entry: {exc.message}") from exc
    if not canonical:
        raise _not_a_tree(digest, "it is not in canonical form")
    return entries


def _not_a_tree(digest: Digest | str, reason: str) -> InvalidInputError:
    return InvalidInputError(
        f"Blob {digest} is not a tree object: {reason}. Pass the digest returned by "
        "put_tree or put_directory."
    )


def _check_unique(ordered: list[TreeEntry]) -> None:
    folders: set[str] = set()
    for entry in ordered:
        parent = entry.path.rpartition("/")[0]
        while parent and parent not in folders:  # a known folder's parents are known too
            folders.add(parent)
            parent = parent.rpartition("/")[0]
    seen: set[str] = set()
    for entry in ordered:
        if entry.path in seen:
            raise InvalidInputError(f"The tree lists {entry.path!r} twice; paths must be unique.")
        if entry.path in folders:
            raise InvalidInputError(
                f"The tree lists {entry.path!r} as a file and as a folder of other entries."
            )
        seen.add(entry.path)


def put_tree(store: ArtifactStore, entries: Iterable[TreeEntry]) -> Digest:
    """Store the tree listing ``entries`` (any order) and return its digest."""
    return store.put(io.BytesIO(encode_tree(entries)))


def get_tree(store: ArtifactStore, digest: Digest) -> list[TreeEntry]:
    """The entries of the tree ``digest``, sorted by path (verified while read)."""
    with store.open(digest) as reader:
        head = _read_up_to(reader, len(_TREE_PREFIX))
        if head != _TREE_PREFIX:  # don't read a large non-tree blob to the end
            raise _not_a_tree(digest, "it does not start like a tree object")
        data = head + reader.read()
    return decode_tree(data, digest)


def _read_up_to(reader: BinaryIO, size: int) -> bytes:
    """``size`` bytes, fewer only at the end of the stream (raw streams may read short)."""
    parts: list[bytes] = []
    remaining = size
    while remaining and (chunk := reader.read(remaining)):
        parts.append(chunk)
        remaining -= len(chunk)
    return b"".join(parts)


def put_file(store: ArtifactStore, path: str | Path) -> tuple[Digest, int]:
    """Store one local file; returns its digest and the number of bytes stored."""
    try:
        with open(path, "rb") as raw:
            counted = _CountingReader(raw)
            digest = store.put(counted)
    except OSError as exc:
        raise _local_error(exc, f"read {path}") from exc
    return digest, counted.count


def put_directory(store: ArtifactStore, folder: Path) -> tuple[Digest, list[TreeEntry]]:
    """Store every regular file under ``folder`` and the tree that lists them.

    Symlinks are neither followed nor recorded. Returns the tree digest and its entries.
    """
    if not folder.is_dir():
        raise NotFoundError(f"Cannot store {folder}: it is not a folder.")
    entries = []
    for file in _regular_files(folder):
        relative = file.relative_to(folder).as_posix()
        digest, size = put_file(store, file)
        entries.append(TreeEntry(relative, digest, size))
    return put_tree(store, entries), entries


def _regular_files(folder: Path) -> list[Path]:
    found: list[Path] = []
    try:
        # os.walk skips unreadable folders unless told to raise: a tree must not miss files
        for dirpath, _dirnames, filenames in os.walk(folder, onerror=_raise):
            base = Path(dirpath)
            for name in filenames:
                file = base / name
                if file.is_file() and not file.is_symlink():
                    found.append(file)
    except OSError as exc:
        raise _local_error(exc, f"list the files under {folder}") from exc
    return sorted(found, key=lambda file: file.relative_to(folder).as_posix())


def _raise(exc: OSError) -> None:
    raise exc


def materialize_tree(store: ArtifactStore, digest: Digest, dst: Path) -> list[TreeEntry]:
    """Write the tree's files under ``dst``; returns the entries written.

    Each file is written to a temp file beside it and renamed into place only after its
    bytes verified, so no file is ever half-written. Every entry is checked before any is
    written: a path that would leave ``dst`` (also through a symlink already in ``dst``)
    raises :class:`InvalidInputError`.
    """
    entries = get_tree(store, digest)
    try:
        dst.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _local_error(exc, f"create {dst}") from exc
    root = dst.resolve()
    targets = [(entry, _target_inside(root, entry.path)) for entry in entries]
    for entry, target in targets:
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            _write_verified(store, entry, target)
        except OSError as exc:
            raise _local_error(exc, f"write {target}") from exc
    return entries


def _target_inside(root: Path, relative: str) -> Path:
    check_tree_path(relative)
    target = root.joinpath(*relative.split("/"))
    # resolve follows symlinks that already exist under dst
    if not target.resolve().is_relative_to(root):
        raise InvalidInputError(
            f"Refusing to write tree entry {relative!r}: it would land outside {root} "
            "(through a symlink). Materialize into an empty folder."
        )
    return target


def _write_verified(store: ArtifactStore, entry: TreeEntry, target: Path) -> None:
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        written = 0
        with os.fdopen(fd, "wb") as out, store.open(entry.digest) as reader:
            while chunk := reader.read(CHUNK_SIZE):  # IntegrityError at the end if tampered
                out.write(chunk)
                written += len(chunk)
        if written != entry.size:
            raise IntegrityError(
                f"Tree entry {entry.path!r} says {entry.size} bytes but blob {entry.digest} "
                f"holds {written}: the tree is corrupted or was tampered with."
            )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


class _CountingReader(RawReader):
    """Pass-through reader that counts the bytes handed out (so put_file needs no stat)."""

    def __init__(self, raw: BinaryIO) -> None:
        super().__init__()
        self._raw = raw
        self.count = 0

    def read(self, size: int | None = -1) -> bytes:
        data = self._raw.read(-1 if size is None else size)
        self.count += len(data)
        return data


def _local_error(exc: OSError, action: str) -> LoopMLError:
    if isinstance(exc, FileNotFoundError):
        return NotFoundError(f"Could not {action}: {exc.filename} does not exist.")
    if isinstance(exc, PermissionError):
        return PermissionDeniedError(f"Could not {action}: permission denied ({exc.filename}).")
    return LoopMLError(f"Could not {action}: {exc.strerror or exc} ({exc.filename}).")
