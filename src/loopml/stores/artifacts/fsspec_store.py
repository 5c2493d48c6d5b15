"""Content-addressed blobs on an fsspec filesystem: ``s3://bucket/prefix`` or ``memory://prefix``.

Same layout as the local store (``<prefix>/blobs/ab/cdef…``). ``put`` spools the stream to a
local temp file while hashing (memory stays bounded), then uploads to the final key only if
it is absent. An S3 PUT, or a completed multipart upload, is atomic, so no partial object is
ever visible. ``open`` streams ranged reads through a :class:`VerifyingReader`.

S3 endpoint: ``LOOPML_S3_ENDPOINT_URL`` if set, else botocore's own configuration
(``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL``, profile files), else AWS. Credentials and
region come from botocore's usual chain (``AWS_ACCESS_KEY_ID``, ``AWS_DEFAULT_REGION``, …).

Transient failures (the endpoint unreachable, a 5xx) are tried again within the retry budget
(``LOOPML_RETRY_BUDGET_S``, :class:`~loopml.core.retry.RetryPolicy`); a missing blob or a denied
access is not.

``memory://`` uses fsspec's process-wide in-memory filesystem and keeps whole blobs in RAM:
it is meant for quick experiments and tests, not for large artifacts.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import Any, BinaryIO, TypeVar
from urllib.parse import urlsplit

from loopml.core.errors import (
    BackendUnavailableError,
    ConfigError,
    LoopMLError,
    NotFoundError,
    PermissionDeniedError,
)
from loopml.core.hashing import CHUNK_SIZE, Digest, StreamHasher, iter_chunks
from loopml.core.redaction import redact_uri
from loopml.core.retry import RetryPolicy
from loopml.stores.artifacts.base import StoredObject
from loopml.stores.artifacts.encryption_format import refuse_if_encrypted
from loopml.stores.artifacts.verify import VerifyingReader

ENV_S3_ENDPOINT_URL = "LOOPML_S3_ENDPOINT_URL"
SUPPORTED_SCHEMES = ("s3", "memory")
# S3 multipart limits: parts of at least 5 MiB, at most 10,000 parts per object.
UPLOAD_PART_SIZE = 8 << 20
UPLOAD_CONCURRENCY = 1
MAX_UPLOAD_PARTS = 10_000
READ_BLOCK_SIZE = 4 << 20
T = TypeVar("T")


class FsspecArtifactStore:
    """Blobs under a prefix of an object store reached through fsspec (S3 via s3fs)."""

    def __init__(self, uri: str, *, retry: RetryPolicy | None = None) -> None:
        self.uri = uri
        self._retry = retry or RetryPolicy.from_env()
        parts = urlsplit(uri)
        self._scheme = parts.scheme.lower()
        if self._scheme == "s3":
            if not parts.netloc:
                raise ConfigError(
                    f"The S3 artifact store URI {redact_uri(uri)!r} names no bucket; "
                    "use s3://bucket or s3://bucket/prefix."
                )
            self._fs, self._driver_errors = _s3_filesystem()
        elif self._scheme == "memory":
            import fsspec

            self._fs = fsspec.filesystem("memory")
            self._driver_errors = (OSError,)
        else:
            supported = ", ".join(f"{s}://" for s in SUPPORTED_SCHEMES)
            raise ConfigError(
                f"FsspecArtifactStore does not support {redact_uri(uri)!r}; supported: {supported}."
            )
        self._root = str(self._fs._strip_protocol(uri)).rstrip("/")

    def __repr__(self) -> str:
        return f"FsspecArtifactStore({redact_uri(self.uri)!r})"

    @property
    def filesystem(self) -> Any:
        """The fsspec filesystem, for readers that open blobs in place (ranged reads)."""
        return self._fs

    def blob_key(self, digest: Digest) -> str:
        """The filesystem path of the blob for ``digest`` (``bucket/prefix/blobs/ab/cdef…``)."""
        shard, rest = digest.shard
        return f"{self._root}/blobs/{shard}/{rest}" if self._root else f"blobs/{shard}/{rest}"

    def put(self, data: BinaryIO) -> Digest:
        hasher = StreamHasher()
        self._spool_and_store(iter_chunks(data, CHUNK_SIZE), hasher.digest, hasher)
        return hasher.digest()

    def put_encoded(
        self, chunks: Iterable[bytes], name: Callable[[], Digest], *, replace: bool = False
    ) -> None:
        """Store ``chunks`` (a blob's encrypted form) as the blob ``name()``; see
        :class:`~loopml.stores.artifacts.encrypted.EncodingArtifactStore`."""
        self._spool_and_store(chunks, name, None, replace=replace)

    def _spool_and_store(
        self,
        chunks: Iterable[bytes],
        name: Callable[[], Digest],
        hasher: StreamHasher | None,
        *,
        replace: bool = False,
    ) -> None:
        """Spool ``chunks`` to a local temp file (hashed into ``hasher`` when given), then
        upload them as blob ``name()`` unless it is there (or ``replace``)."""
        # named for this process: loopml gc removes the spool of a killed one
        fd, spool = tempfile.mkstemp(prefix=f"loopml-put-{os.getpid()}-", suffix=".part")
        try:
            size = 0
            with os.fdopen(fd, "wb") as out:
                for chunk in chunks:
                    if hasher is not None:
                        hasher.update(chunk)
                    size += len(chunk)
                    out.write(chunk)
            digest = name()
            key = self.blob_key(digest)

            def store() -> None:  # from the spool, so a retry can send it all again
                if replace or not self._fs.exists(key):
                    self._upload(spool, key, size)

            self._driver_call(f"store blob {digest}", store)
        finally:
            with contextlib.suppress(OSError):
                os.unlink(spool)

    def open(self, digest: Digest) -> BinaryIO:
        raw = self.open_encoded(digest)
        try:
            refuse_if_encrypted(raw, digest)
        except BaseException:
            raw.close()
            raise
        return VerifyingReader(raw, digest)

    def open_encoded(self, digest: Digest) -> BinaryIO:
        """The stored bytes, seekable and unverified."""
        key = self.blob_key(digest)

        def reader() -> BinaryIO:
            if self._scheme == "memory":
                # the memory fs hands every reader the same file object: copy instead
                return io.BytesIO(self._fs.cat_file(key))
            return self._fs.open(key, "rb", block_size=READ_BLOCK_SIZE)  # type: ignore[no-any-return]

        return self._driver_call(f"open blob {digest}", reader, digest)

    def read_encoded_head(self, digest: Digest, size: int) -> bytes:
        """The first ``size`` stored bytes, in one ranged read."""
        key = self.blob_key(digest)
        head = lambda: bytes(self._fs.cat_file(key, start=0, end=size))  # noqa: E731
        return self._driver_call(f"read the start of blob {digest}", head, digest)

    def exists(self, digest: Digest) -> bool:
        key = self.blob_key(digest)
        return self._driver_call(f"look up blob {digest}", lambda: bool(self._fs.exists(key)))

    def size(self, digest: Digest) -> int:
        key = self.blob_key(digest)
        action = f"read the size of blob {digest}"
        return self._driver_call(action, lambda: int(self._fs.size(key)), digest)

    def list_stored(self) -> Iterator[StoredObject]:
        """Every blob, and on S3 every multipart upload a killed writer left unfinished
        (kind ``temp``: invisible in listings, its parts kept and billed until aborted). This
        store has no packs, and its other temp files are local spools."""
        folder = f"{self._root}/blobs" if self._root else "blobs"
        found = self._driver_call("list the blobs", lambda: self._fs.find(folder, detail=True))
        for path, info in found.items():
            shard, _, rest = str(path).rpartition("/")
            name = f"blake3:{shard.rpartition('/')[2]}{rest}"
            yield StoredObject("blob", name, int(info.get("size") or 0), _modified(info))
        if self._scheme == "s3":
            yield from self._unfinished_uploads()

    def _unfinished_uploads(self) -> Iterator[StoredObject]:
        """The multipart uploads begun under ``blobs/`` and never completed nor aborted, named
        ``upload:<bucket>/<key>#<upload id>``, as of when they began."""
        bucket, _, prefix = self._root.partition("/")
        where: dict[str, str] = {
            "Bucket": bucket,
            "Prefix": f"{prefix}/blobs/" if prefix else "blobs/",
        }
        while True:
            page = self._driver_call(
                "list unfinished uploads",
                lambda: self._fs.call_s3("list_multipart_uploads", **where),
            )
            for upload in page.get("Uploads") or ():
                name = f"upload:{bucket}/{upload['Key']}#{upload['UploadId']}"
                yield StoredObject(
                    "temp", name, 0, _modified({"LastModified": upload["Initiated"]})
                )
            if not page.get("IsTruncated"):
                return
            where.update(KeyMarker=page["NextKeyMarker"], UploadIdMarker=page["NextUploadIdMarker"])

    def remove_stored(self, item: StoredObject, *, cutoff: float) -> bool:
        """Object stores cannot remove "unless touched": the blob's time is checked just
        before the delete (a put that reuses a blob does not touch it here, so the grace
        period is what protects a blob that a writer is about to record)."""
        if item.kind == "temp" and self._scheme == "s3" and item.name.startswith("upload:"):
            return self._abort_upload(item.name)
        if item.kind != "blob":
            raise ValueError(f"{self!r} holds blobs only, not {item.kind!r}")
        key = self.blob_key(Digest.parse(item.name))

        def remove() -> bool:
            try:
                if _modified(self._fs.info(key)) > cutoff:
                    return False
                self._fs.rm_file(key)
            except FileNotFoundError:
                pass
            return True

        return self._driver_call(f"remove blob {item.name}", remove)

    def _abort_upload(self, name: str) -> bool:
        """Abort an unfinished multipart upload listed by :meth:`_unfinished_uploads` (one
        that has ended meanwhile is gone already: fine)."""
        path, _, upload_id = name.removeprefix("upload:").rpartition("#")
        bucket, _, key = path.partition("/")

        def abort() -> bool:
            with contextlib.suppress(FileNotFoundError):  # s3fs's word for NoSuchUpload
                self._fs.call_s3(
                    "abort_multipart_upload", Bucket=bucket, Key=key, UploadId=upload_id
                )
            return True

        return self._driver_call(f"abort the unfinished upload of {key}", abort)

    def _upload(self, spool: str, key: str, size: int) -> None:
        if self._scheme == "memory":
            with open(spool, "rb") as src:
                self._fs.pipe_file(key, src.read())
            return
        # a fixed part size bounds memory; grow it only to stay within S3's part limit
        part_size = max(UPLOAD_PART_SIZE, math.ceil(size / MAX_UPLOAD_PARTS))
        self._fs.put_file(spool, key, chunksize=part_size, max_concurrency=UPLOAD_CONCURRENCY)

    def _driver_call(
        self, action: str, operation: Callable[[], T], digest: Digest | None = None
    ) -> T:
        """``operation()`` with driver errors as :class:`LoopMLError`; an unreachable store
        is tried again within the retry budget (every operation here is idempotent: blobs
        are content-addressed)."""

        def attempt() -> T:
            try:
                return operation()
            except LoopMLError:
                raise
            except self._driver_errors as exc:
                raise self._translate(exc, action, digest) from exc

        return self._retry.call(
            attempt,
            is_transient=lambda exc: isinstance(exc, BackendUnavailableError),
            what=f"Could not {action} in {self.uri}",
        )

    def _translate(self, exc: BaseException, action: str, digest: Digest | None) -> LoopMLError:
        where = f"the artifact store at {redact_uri(self.uri)}"
        if isinstance(exc, FileNotFoundError):
            if digest is not None:
                return NotFoundError(
                    f"Blob {digest} is not in {where}. Check the digest, or that the "
                    "artifact was logged to this store."
                )
            return NotFoundError(
                f"Could not {action}: {where} does not exist ({exc}). "
                "Create the bucket first, or fix the URI."
            )
        if isinstance(exc, PermissionError):
            return PermissionDeniedError(
                f"Could not {action}: access to {where} was denied ({exc}). "
                "Check the credentials (AWS_ACCESS_KEY_ID, AWS_PROFILE, …) and the bucket policy."
            )
        return BackendUnavailableError(
            f"Could not {action} in {where}: {type(exc).__name__}: {exc}. Check that the "
            f"endpoint is reachable (set {ENV_S3_ENDPOINT_URL} or AWS_ENDPOINT_URL for an "
            "S3-compatible server) and that credentials are configured."
        )


def _modified(info: dict[str, Any]) -> float:
    """When an object was written, in seconds since the epoch (S3: LastModified; the memory
    filesystem: created)."""
    when = info.get("LastModified", info.get("created"))
    if isinstance(when, datetime):
        return when.timestamp()
    if isinstance(when, int | float):
        return float(when)
    raise LoopMLError(f"The artifact store lists no modification time for {info.get('name')}.")


def _s3_filesystem() -> tuple[Any, tuple[type[BaseException], ...]]:
    """A fresh (uncached) S3 filesystem, and the driver errors it may raise."""
    try:
        import botocore.exceptions  # type: ignore[import-untyped]  # no stubs, no py.typed
        import s3fs
    except ImportError as exc:
        raise BackendUnavailableError(
            f"The s3:// artifact store needs s3fs, which is not installed ({exc.name} is "
            "missing). Install it with: pip install 'loopml[s3]'."
        ) from exc
    client_kwargs: dict[str, str] = {}
    endpoint = os.environ.get(ENV_S3_ENDPOINT_URL, "").strip()
    if endpoint:
        client_kwargs["endpoint_url"] = endpoint
    # No region_name here: botocore reads AWS_DEFAULT_REGION / the profile itself.
    fs = s3fs.S3FileSystem(
        client_kwargs=client_kwargs,
        skip_instance_cache=True,  # no process-wide cached stores
        use_listings_cache=False,  # other writers add blobs; never trust a stale listing
    )
    errors = (OSError, botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError)
    return fs, errors
