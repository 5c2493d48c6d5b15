"""How the artifact contract's fixtures build a backend over a local folder or an fsspec
filesystem, plain or wrapped (encryption at rest): one place for the handle's ``corrupt`` and
``count_blobs``, which look at the inner store's stored objects whatever wraps it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from loopml.core.hashing import Digest
from loopml.stores.artifacts.base import ArtifactStore
from loopml.stores.artifacts.fsspec_store import FsspecArtifactStore
from loopml.stores.artifacts.local import LocalArtifactStore
from tests.contract.artifact_checks import ArtifactBackendHandle

Damage = Callable[[bytes], bytes]  # the stored bytes, changed so that reading must fail


def _plain(inner: ArtifactStore) -> ArtifactStore:
    return inner


def local_backend(
    name: str,
    root: Path,
    damage: Damage,
    wrap: Callable[[LocalArtifactStore], ArtifactStore] = _plain,
) -> ArtifactBackendHandle:
    """A local store in ``root`` (wrapped by ``wrap``); ``corrupt`` damages a blob's file."""
    inner = LocalArtifactStore(str(root))

    def corrupt(digest: Digest) -> None:
        path = inner.blob_path(digest)
        path.chmod(0o644)
        path.write_bytes(damage(path.read_bytes()))

    def count_blobs() -> int:
        blobs = inner.root / "blobs"
        return sum(1 for p in blobs.rglob("*") if p.is_file()) if blobs.exists() else 0

    return ArtifactBackendHandle(name, wrap(inner), corrupt, count_blobs)


def fsspec_backend(
    name: str,
    uri: str,
    fs: Any,
    blobs: str,
    damage: Damage,
    wrap: Callable[[FsspecArtifactStore], ArtifactStore] = _plain,
) -> ArtifactBackendHandle:
    """An fsspec store at ``uri`` (wrapped by ``wrap``), seen through ``fs`` (a filesystem
    with the rights to change it), its blobs under the path ``blobs``."""
    inner = FsspecArtifactStore(uri)

    def corrupt(digest: Digest) -> None:
        key = inner.blob_key(digest)
        fs.pipe_file(key, damage(fs.cat_file(key)))

    def count_blobs() -> int:
        return len(fs.find(blobs))

    return ArtifactBackendHandle(name, wrap(inner), corrupt, count_blobs)
