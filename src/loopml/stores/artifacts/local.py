"""Content-addressed blobs in a local folder: ``<root>/blobs/ab/cdef…``.

``put`` streams into ``<root>/tmp/`` (same filesystem) while hashing, fsyncs, then publishes
with ``os.replace``, so a crash at any moment leaves at most a stray temp file and never a
partial blob under ``blobs/``. Published blobs are read-only (0o444). Any number of threads
and processes may put the same content at once: each publishes an identical file atomically.

Inside :meth:`LocalArtifactStore.batched_writes` the per-blob fsyncs are replaced by one
``syncfs`` when the block ends, and blobs of up to 256 KiB are appended to one pack file
(:mod:`loopml.stores.artifacts.packs`) instead of becoming a file each: a folder of 10,000
small files then costs a few file creations and one flush, not 10,000 and 20,000, and the
blobs are still durable before the caller records anything that names them.
"""

from __future__ import annotations

import contextlib
import ctypes
import io
import itertools
import os
import secrets
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote, urlsplit

from loopml.core.errors import (
    ConfigError,
    LoopMLError,
    NotFoundError,
    PermissionDeniedError,
)
from loopml.core.hashing import CHUNK_SIZE, Digest, StreamHasher, hash_bytes, iter_chunks
from loopml.stores.artifacts.base import StoredObject
from loopml.stores.artifacts.encryption_format import refuse_if_encrypted
from loopml.stores.artifacts.local_listing import list_local, remove_local
from loopml.stores.artifacts.packs import PACKED_BLOB_MAX, PackIndex, PackWriter
from loopml.stores.artifacts.verify import VerifyingReader

BLOB_MODE = 0o444
_WRITEBACK_BYTES = 16 << 20  # start writing a big blob to disk every 16 MiB
_PIPELINE_DEPTH = 8  # chunks read and hashed ahead of the disk writes (8 MiB of memory)
_SYNC_FILE_RANGE_WRITE = 2
_CREATE_FLAGS = (
    os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
)


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
        self._blobs_text = str(self._blobs)
        self._tmp = self.root / "tmp"
        self._packs = PackIndex(self.root / "packs")
        # per thread: .depth (nesting of batched_writes), .pack (the PackWriter being filled)
        self._batch = threading.local()
        self._shards: set[str] = set()  # shard folders known to exist

    @contextlib.contextmanager
    def batched_writes(self) -> Iterator[None]:
        """Puts in this block (this thread) skip their fsyncs and small blobs go into one
        pack file; when the outermost block exits the pack is published (even on error: a
        digest ``put`` returned always names a blob) and, on a normal exit, the filesystem is
        synced once, before the caller goes on to record what it stored."""
        depth = getattr(self._batch, "depth", 0)
        self._batch.depth = depth + 1
        try:
            yield
        except BaseException:
            if depth == 0:
                with contextlib.suppress(OSError):
                    self._publish_pack()
            raise
        finally:
            self._batch.depth = depth
        if depth == 0:
            with _wrap_os_errors(f"flush the blobs written to {self.root}"):
                self._publish_pack()
                if self._tmp.is_dir():
                    _sync_filesystem(self._tmp)

    def _pack_writer(self) -> PackWriter:
        writer: PackWriter | None = getattr(self._batch, "pack", None)
        if writer is None:
            self._tmp.mkdir(parents=True, exist_ok=True)
            writer = self._batch.pack = PackWriter(self._tmp, self._packs.folder)
        return writer

    def _pending(self, digest: Digest) -> bytes | None:
        writer: PackWriter | None = getattr(self._batch, "pack", None)
        return None if writer is None else writer.read(digest)

    def _publish_pack(self) -> None:
        writer: PackWriter | None = getattr(self._batch, "pack", None)
        self._batch.pack = None
        if writer is not None:
            writer.publish()

    def __repr__(self) -> str:
        return f"LocalArtifactStore({self.uri!r})"

    def scratch_folder(self) -> Path:
        """``<root>/tmp``: temp files there are one rename from the store, and ``loopml gc``
        removes what a killed process left behind."""
        with _wrap_os_errors(f"create the scratch folder of {self.root}"):
            self._tmp.mkdir(parents=True, exist_ok=True)
        return self._tmp

    def list_stored(self) -> Iterator[StoredObject]:
        with _wrap_os_errors(f"list the artifact store at {self.root}"):
            yield from list_local(self.root)

    def remove_stored(self, item: StoredObject, *, cutoff: float) -> bool:
        with _wrap_os_errors(f"remove {item.kind} {item.name} from {self.root}"):
            return remove_local(self.root, item, cutoff)

    def blob_path(self, digest: Digest) -> Path:
        """Where the blob for ``digest`` lives (whether or not it exists)."""
        shard, rest = digest.shard
        return self._blobs / shard / rest

    def put(self, data: BinaryIO) -> Digest:
        first = data.read(CHUNK_SIZE)
        second = data.read(CHUNK_SIZE) if first else b""
        if not second:  # all of it is in memory: hash first, write only if new
            digest = hash_bytes(first)
            self._put_whole(first, digest)
            return digest
        return self._write(itertools.chain((first, second), iter_chunks(data, CHUNK_SIZE)))

    def put_encoded(
        self, chunks: Iterable[bytes], name: Callable[[], Digest], *, replace: bool = False
    ) -> None:
        """Store ``chunks`` (a blob's encrypted form) as the blob ``name()``; see
        :class:`~loopml.stores.artifacts.encrypted.EncodingArtifactStore`."""
        stream = iter(chunks)
        first = next(stream, b"")
        second = next(stream, b"") if first else b""
        if not second:
            self._put_whole(first, name(), replace=replace)
            return
        self._write(itertools.chain((first, second), stream), name=name, replace=replace)

    def open_encoded(self, digest: Digest) -> BinaryIO:
        return self._open_raw(digest)

    def read_encoded_head(self, digest: Digest, size: int) -> bytes:
        with self._open_raw(digest) as raw:
            return raw.read(size)

    def _put_whole(self, data: bytes, digest: Digest, *, replace: bool = False) -> None:
        """Store ``data`` (held in memory) as blob ``digest`` unless stored already."""
        if not replace:
            if self._has(digest, len(data)) and self._freshen(digest):
                return
            if self._batching and len(data) <= PACKED_BLOB_MAX:
                with _wrap_os_errors(f"write a pack in {self.root}"):
                    writer = self._pack_writer()
                    writer.add(digest, data)
                    if writer.full:
                        self._publish_pack()
                return
        self._write([data], pipelined=False, name=lambda: digest, replace=replace)

    def _write(
        self,
        chunks: Iterable[bytes],
        *,
        pipelined: bool = True,
        name: Callable[[], Digest] | None = None,
        replace: bool = False,
    ) -> Digest:
        """Hash ``chunks`` into a temp file, then publish it as the blob of their digest (or
        of ``name()``, called once they are written, for bytes that are not the blob's own).
        ``pipelined``: the disk writes run on a thread of their own, overlapping the reading
        and hashing of what follows. ``replace``: publish even over an intact blob."""
        with _wrap_os_errors(f"store a blob in {self.root}"):
            if not self._tmp.is_dir():
                self._tmp.mkdir(parents=True, exist_ok=True)
            tmp = self._tmp / f"put-{secrets.token_hex(8)}.part"
            # created read-only (the open descriptor may still write): no chmod later
            fd = os.open(tmp, _CREATE_FLAGS, BLOB_MODE)
        published = False
        try:
            hasher = StreamHasher()
            hashing, naming = name is None, name or hasher.digest
            size = 0
            action = f"write a blob in {self.root}"
            writer = _PipelinedWriter(fd) if pipelined else None
            try:
                # errors raised by the caller's stream pass through unchanged
                for chunk in chunks:
                    if hashing:
                        hasher.update(chunk)
                    size += len(chunk)
                    with _wrap_os_errors(action):
                        if writer is None:
                            _write_all(fd, chunk)
                        else:
                            writer.write(chunk)
                with _wrap_os_errors(action):
                    if writer is not None:
                        writer.finish()
                    if not self._batching:
                        os.fsync(fd)
            finally:
                if writer is not None:
                    writer.close()
            digest = naming()
            with _wrap_os_errors(f"publish blob {digest} in {self.root}"):
                published = self._publish(tmp, digest, size, replace=replace)
        finally:
            os.close(fd)
            if not published:
                with contextlib.suppress(OSError):
                    tmp.unlink(missing_ok=True)
        return digest

    def _publish(self, tmp: Path, digest: Digest, size: int, *, replace: bool = False) -> bool:
        """Move ``tmp`` to the blob's place unless an intact copy is there (then False)."""
        final = self.blob_path(digest)
        # an existing blob of another size is a truncated leftover: replace it
        if not replace and _size_or_none(final) == size and self._freshen(digest):
            return False
        if final.parent.name not in self._shards:
            final.parent.mkdir(parents=True, exist_ok=True)
            self._shards.add(final.parent.name)
        os.replace(tmp, final)
        if not self._batching:
            _fsync_directory(final.parent)
        return True

    @property
    def _batching(self) -> bool:
        return getattr(self._batch, "depth", 0) > 0

    def open(self, digest: Digest) -> BinaryIO:
        raw = self._open_raw(digest)
        try:
            refuse_if_encrypted(raw, digest)
        except BaseException:
            raw.close()
            raise
        return VerifyingReader(raw, digest)

    def _open_raw(self, digest: Digest) -> BinaryIO:
        path = self.blob_path(digest)
        try:
            raw: BinaryIO = path.open("rb")
        except FileNotFoundError as exc:
            with _wrap_os_errors(f"read blob {digest} from a pack in {self.root}"):
                data = self._packed(digest)
            if data is None:
                raise NotFoundError(_missing(digest, self.root)) from exc
            raw = io.BytesIO(data)
        except OSError as exc:
            raise _translate(exc, f"open blob {digest} in {self.root}") from exc
        return raw

    def exists(self, digest: Digest) -> bool:
        return self._has(digest, None, fresh=True)

    def claim(self, digest: Digest) -> bool:
        """Whether the blob is stored, touching it (see :meth:`_freshen`): for a caller that
        reuses a stored blob without putting it again."""
        return self._has(digest, None, fresh=True) and self._freshen(digest)

    def size(self, digest: Digest) -> int:
        try:
            return self.blob_path(digest).stat().st_size
        except FileNotFoundError as exc:
            packed = self._packs.find(digest)
            if packed is not None:
                return packed.size
            pending = self._pending(digest)
            if pending is not None:
                return len(pending)
            raise NotFoundError(_missing(digest, self.root)) from exc
        except OSError as exc:
            raise _translate(exc, f"read the size of blob {digest} in {self.root}") from exc

    def _has(self, digest: Digest, size: int | None, *, fresh: bool = False) -> bool:
        """Whether the blob is stored (a loose file of ``size`` bytes when given: a loose file
        of another size is a truncated leftover that a put replaces). Not ``fresh``, a pack
        published a moment ago may be missed (fine for "store it again?", not for queries)."""
        hexdigest = digest.hexdigest
        # plain strings: this runs once per file of a folder being added
        loose = _size_or_none(f"{self._blobs_text}/{hexdigest[:2]}/{hexdigest[2:]}")
        if loose is not None and (size is None or loose == size):
            return True
        if self._packs.find(digest, fresh=fresh) is not None:
            return True
        writer: PackWriter | None = getattr(self._batch, "pack", None)
        return writer is not None and digest.hexdigest in writer.blobs

    def _freshen(self, digest: Digest) -> bool:
        """Mark a blob that a put found already stored as just written, so that ``loopml gc``
        (which spares whatever is younger than its grace period, and checks again as it
        removes) cannot remove it before the caller records what it stored. False if it is
        gone (removed a moment ago): then the put writes it again."""
        if self._pending(digest) is not None:
            return True  # in this thread's pack, not yet published
        try:
            os.utime(self.blob_path(digest))
            return True
        except FileNotFoundError:
            packed = self._packs.find(digest, fresh=False)
            if packed is None:
                return False
            try:
                os.utime(packed.pack)
            except FileNotFoundError:
                return False
            return True
        except OSError:  # not ours to touch (another user's store): keep the old behaviour
            return True

    def _packed(self, digest: Digest) -> bytes | None:
        packed = self._packs.find(digest)
        return packed.read() if packed is not None else self._pending(digest)


def _missing(digest: Digest, root: Path) -> str:
    return (
        f"Blob {digest} is not in the artifact store at {root}. Check the digest, or that "
        "the artifact was logged to this store."
    )


def _size_or_none(path: str | Path) -> int | None:
    try:
        return os.stat(path).st_size
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


class _PipelinedWriter:
    """Writes chunks to ``fd`` in order on one worker thread, at most a few chunks behind, and
    asks the kernel to start writing every :data:`_WRITEBACK_BYTES` to disk, so that the final
    sync waits for the tail only."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="loopml-blob-write")
        self._pending: deque[Future[None]] = deque()
        self._written = 0
        self._flushed = 0

    def write(self, chunk: bytes) -> None:
        self._pending.append(self._pool.submit(self._write, chunk))
        while len(self._pending) > _PIPELINE_DEPTH:
            self._pending.popleft().result()  # re-raises the worker's OSError

    def finish(self) -> None:
        while self._pending:
            self._pending.popleft().result()

    def close(self) -> None:
        for future in self._pending:
            future.cancel()
        self._pool.shutdown(wait=True)

    def _write(self, chunk: bytes) -> None:
        _write_all(self._fd, chunk)
        self._written += len(chunk)
        if self._written - self._flushed >= _WRITEBACK_BYTES:
            _start_writeback(self._fd, self._flushed, self._written - self._flushed)
            self._flushed = self._written


def _write_all(fd: int, chunk: bytes) -> None:
    view = memoryview(chunk)
    while view:
        view = view[os.write(fd, view) :]


def _libc_function(name: str) -> Callable[..., int] | None:
    """A function of the C library, or None where there is none (Windows, macOS for Linux
    calls)."""
    try:
        found: Callable[..., int] | None = getattr(ctypes.CDLL(None, use_errno=True), name, None)
    except OSError:
        return None
    return found


def _start_writeback(fd: int, offset: int, length: int) -> None:
    """Ask Linux to start writing ``length`` bytes at ``offset`` to disk now (asynchronously;
    ``sync_file_range(SYNC_FILE_RANGE_WRITE)``). A no-op elsewhere; durability still comes from
    the fsync or syncfs that follows."""
    call = _SYNC_FILE_RANGE
    if call is not None:
        call(fd, ctypes.c_int64(offset), ctypes.c_int64(length), _SYNC_FILE_RANGE_WRITE)


def _sync_filesystem(folder: Path) -> None:
    """Flush every dirty page of the filesystem holding ``folder`` (``syncfs`` on Linux; a
    full ``sync`` elsewhere)."""
    syncfs = _SYNCFS
    if syncfs is None:
        os.sync()
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        if syncfs(fd) != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, os.strerror(errno), str(folder))
    finally:
        os.close(fd)


_SYNCFS = _libc_function("syncfs")
_SYNC_FILE_RANGE = _libc_function("sync_file_range")


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
