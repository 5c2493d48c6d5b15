"""Run artifacts: upload files and folders as content-addressed blobs, list, download."""

from __future__ import annotations

import os
import posixpath
import tempfile
from pathlib import Path

from loopml.core.entities import ArtifactEntry, ArtifactListing
from loopml.core.errors import InvalidInputError, NotFoundError
from loopml.core.hashing import Digest, iter_chunks
from loopml.core.validation import normalize_artifact_path
from loopml.stores.artifacts.base import ArtifactStore
from loopml.stores.metadata.artifact_index_store import ArtifactIndexStore


def upload(
    metadata: ArtifactIndexStore,
    artifacts: ArtifactStore,
    run_id: str,
    local_path: str | os.PathLike[str],
    artifact_path: str | None = None,
) -> list[ArtifactEntry]:
    """Store a file or a folder (keeping its name) under ``artifact_path`` in the run.

    Blobs are published first and the index rows after, in one transaction, so a crash
    never leaves a listed artifact without its bytes."""
    source = Path(local_path)
    if not source.exists():
        raise InvalidInputError(f"Cannot log artifact: {source} does not exist.")
    base = normalize_artifact_path(artifact_path or "")
    if source.is_dir():
        files = sorted(p for p in source.rglob("*") if p.is_file())
        pairs = [(p, posixpath.join(source.name, p.relative_to(source).as_posix())) for p in files]
    else:
        pairs = [(source, source.name)]
    entries: list[ArtifactEntry] = []
    for file, relative in pairs:
        path = normalize_artifact_path(posixpath.join(base, relative) if base else relative)
        with file.open("rb") as stream:
            before = os.fstat(stream.fileno())
            digest = artifacts.put(stream)
            after = os.fstat(stream.fileno())
        if (before.st_size, before.st_mtime_ns) != (after.st_size, after.st_mtime_ns):
            raise InvalidInputError(
                f"Cannot log artifact: {file} changed while it was being stored; log it again "
                "once it is complete."
            )
        entries.append(ArtifactEntry(path, str(digest), after.st_size))
    metadata.add_artifacts(run_id, entries)
    return entries


def list_children(entries: list[ArtifactEntry], path: str) -> list[ArtifactListing]:
    """Direct children of folder ``path`` (files and sub-folders), sorted by path."""
    prefix = f"{path}/" if path else ""
    children: dict[str, ArtifactListing] = {}
    for entry in entries:
        if entry.path == path:
            return [ArtifactListing(entry.path, False, entry.size, entry.digest)]
        if not entry.path.startswith(prefix):
            continue
        head, sep, _ = entry.path[len(prefix) :].partition("/")
        child = prefix + head
        if sep:
            children.setdefault(child, ArtifactListing(child, True))
        else:
            children[child] = ArtifactListing(child, False, entry.size, entry.digest)
    return sorted(children.values(), key=lambda c: c.path)


def download(
    metadata: ArtifactIndexStore,
    artifacts: ArtifactStore,
    run_id: str,
    path: str,
    dst: str | os.PathLike[str],
) -> Path:
    """Write artifact file or folder ``path`` under ``dst``; returns the local path.

    Each file is verified against its digest while streaming and appears atomically."""
    path = normalize_artifact_path(path)
    entries = metadata.list_artifact_entries(run_id, path)
    if not entries:
        raise NotFoundError(f"Run {run_id} has no artifact at {path or '/'!r}.")
    target_root = Path(dst).resolve()
    parent = posixpath.dirname(path)
    strip = f"{parent}/" if parent else ""
    for entry in entries:
        target = (target_root / entry.path[len(strip) :]).resolve()
        if not target.is_relative_to(target_root):
            raise InvalidInputError(f"Artifact path {entry.path!r} escapes {target_root}.")
        _write_atomically(artifacts, Digest.parse(entry.digest), target)
    leaf = posixpath.basename(path)
    return target_root / leaf if leaf else target_root


def _write_atomically(artifacts: ArtifactStore, digest: Digest, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out, artifacts.open(digest) as src:
            for chunk in iter_chunks(src):
                out.write(chunk)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
