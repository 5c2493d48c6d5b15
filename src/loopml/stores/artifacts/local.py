"""Content-addressed blobs in a local folder: ``<root>/blobs/ab/cdef…``.

``put`` streams into ``<root>/tmp/`` (same filesystem) while hashing, fsyncs, then publishes
with ``os.replace``, so a crash at any moment leaves at most a stray temp file and never a
partial blob under ``blobs/``. Published blobs are read-only (0o444). Any number of threads
and processes may put the same content at once: each publishes an identical file atomically.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote, urlsplit

from loopml.core.errors import (
    ConfigError,
    LoopMLError,
    NotFoundError,
    PermissionDeniedError,
)
from loopml.core.hashing import CHUNK_SIZE, Digest, StreamHasher, iter_chunks
from loopml.stores.artifacts.verify import VerifyingReader

BLOB_MODE = 0o444


def path_from_uri(uri: str) -> Path:
    """The folder named by a bare path or a ``file://`` URI (``file:///abs`` or ``file:rel``)."""
    parts = urlsplit(uri)
    if len(parts.scheme) <= 1:  # a bare path (or a Windows drive letter)
        text = uri
    elif parts.scheme.lower() == "file":
        if parts.netloc not in ("", "localhost"):
            raise ConfigError(
                f"Unsupported file URI {uri!r}: the host must be empty or 'localhost'. "
                "Use file:///absolute/path or a plain folder path."
            )
        text = unquote(parts.path)
    else:
        raise ConfigError(f"LocalArtifactStore needs a folder path or a file:// URI; got {uri!r}.")
    if not text:
        raise ConfigError(f"The artifact store URI {uri!r} names no folder.")
    return Path(text).expanduser().absolute()


class LocalArtifactStore:
    """Blobs in a folder on a local (or mounted) filesystem. Folders are created lazily."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self.root = path_from_uri(uri)
        self._blobs = self.root / "blobs"
        self._tmp = self.root / "tmp"

    def __repr__(self) -> str:
        return f"LocalArtifactStore({self.uri!r})"

    def blob_path(self, digest: Digest) -> Path:
        """Where the blob for ``digest`` lives (whether or not it exists)."""
        shard, rest = digest.shard
        return self._blobs / shard / rest

    def put(self, data: BinaryIO) -> Digest:
        with _wrap_os_errors(f"store a blob in {self.root}"):
            self._tmp.mkdir(parents=True, exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(dir=self._tmp, prefix="put-", suffix=".part")
        tmp = Path(tmp_name)
        try:
            hasher = StreamHasher()
            with os.fdopen(fd, "wb") as out:
                # errors raised by the caller's stream pass through unchanged
                for chunk in iter_chunks(data, CHUNK_SIZE):
                    hasher.update(chunk)
                    with _wrap_os_errors(f"write a blob in {self.root}"):
                        out.write(chunk)
                with _wrap_os_errors(f"write a blob in {self.root}"):
                    out.flush()
                    os.fsync(out.fileno())
            digest = hasher.digest()
            with _wrap_os_errors(f"publish blob {digest} in {self.root}"):
                self._publish(tmp, digest, hasher.size)
        finally:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
        return digest

    def _publish(self, tmp: Path, digest: Digest, size: int) -> None:
        final = self.blob_path(digest)
        # an existing blob of another size is a truncated leftover: replace it
        if _size_or_none(final) == size:
            return  # stored once; the caller's finally removes the temp file
        final.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(tmp, BLOB_MODE)
        os.replace(tmp, final)
        _fsync_directory(final.parent)

    def open(self, digest: Digest) -> BinaryIO:
        path = self.blob_path(digest)
        try:
            raw = path.open("rb")
        except FileNotFoundError as exc:
            raise NotFoundError(_missing(digest, self.root)) from exc
        except OSError as exc:
            raise _translate(exc, f"open blob {digest} in {self.root}") from exc
        return VerifyingReader(raw, digest)

    def exists(self, digest: Digest) -> bool:
        return self.blob_path(digest).is_file()

    def size(self, digest: Digest) -> int:
        try:
            return self.blob_path(digest).stat().st_size
        except FileNotFoundError as exc:
            raise NotFoundError(_missing(digest, self.root)) from exc
        except OSError as exc:
            raise _translate(exc, f"read the size of blob {digest} in {self.root}") from exc


def _missing(digest: Digest, root: Path) -> str:
    return (
        f"Blob {digest} is not in the artifact store at {root}. Check the digest, or that "
        "the artifact was logged to this store."
    )


def _size_or_none(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return None


def _fsync_directory(folder: Path) -> None:
    """Make the rename durable; a no-op where directories cannot be opened (Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _translate(exc: OSError, action: str) -> LoopMLError:
    reason = exc.strerror or str(exc)
    if isinstance(exc, PermissionError):
        return PermissionDeniedError(
            f"Could not {action}: permission denied ({exc.filename}). "
            "Check the folder's owner and mode."
        )
    return LoopMLError(f"Could not {action}: {reason} ({exc.filename}).")


@contextlib.contextmanager
def _wrap_os_errors(action: str) -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        raise _translate(exc, action) from exc
