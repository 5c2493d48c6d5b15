"""Encryption at rest: an artifact store that keeps its blobs AES-GCM encrypted in another.

:class:`EncryptedArtifactStore` wraps a local or fsspec/S3 store (any
:class:`EncodingArtifactStore`). Blobs keep the name of their plaintext (the BLAKE3 digest,
so dedup and every recorded digest are unchanged); what is stored under that name is the
encrypted form of :mod:`~loopml.stores.artifacts.encryption_format`, written and read in
1 MiB frames, so memory stays bounded whatever the blob's size. ``open`` decrypts, then
verifies the plaintext against the digest as every store does. Blobs stored before
encryption was turned on are still read as they are (``loopml encryption rotate`` encrypts
them). ``cryptography`` is imported only when this store is built (extra ``encryption``).
"""

from __future__ import annotations

import hmac
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Protocol, runtime_checkable

from loopml.core.errors import BackendUnavailableError, IntegrityError
from loopml.core.hashing import Digest, StreamHasher
from loopml.stores.artifacts.base import (
    ArtifactStore,
    StoredObject,
    batched_writes,
    claim,
    scratch_folder,
)
from loopml.stores.artifacts.chunked_reader import ChunkedReader
from loopml.stores.artifacts.encryption_format import (
    FRAME_PLAINTEXT,
    FRAME_SIZE,
    HEADER_SIZE,
    TAG_SIZE,
    VERSION,
    BlobHeader,
    build_header,
    frame_nonce,
    hashes_to,
    missing_key_error,
    parse_header,
    plaintext_size,
    read_exact,
)
from loopml.stores.artifacts.encryption_keys import EncryptionKey, KeyRing
from loopml.stores.artifacts.verify import VerifyingReader

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_KDF_LABEL = b"loopml artifact v1"


@runtime_checkable
class EncodingArtifactStore(ArtifactStore, Protocol):
    """A store that can hold bytes other than a blob's own under the blob's name (what the
    encrypting wrapper needs), list them and remove them."""

    def put_encoded(
        self, chunks: Iterable[bytes], name: Callable[[], Digest], *, replace: bool = False
    ) -> None:
        """Store ``chunks`` as the blob ``name()`` (called once they are consumed), unless it
        is stored already (``replace``: store them anyway, atomically replacing it)."""
        ...

    def open_encoded(self, digest: Digest) -> BinaryIO:
        """The stored bytes, seekable and unverified; :class:`NotFoundError` if absent."""
        ...

    def read_encoded_head(self, digest: Digest, size: int) -> bytes:
        """The first ``size`` stored bytes (fewer for a shorter blob)."""
        ...

    def list_stored(self) -> Iterator[StoredObject]: ...

    def remove_stored(self, item: StoredObject, *, cutoff: float) -> bool: ...


class EncryptedArtifactStore:
    """Blobs encrypted with the key ring's current key in ``inner``; read with any of its keys.

    >>> store = EncryptedArtifactStore(LocalArtifactStore("blobs"), keyring)  # doctest: +SKIP
    """

    def __init__(self, inner: EncodingArtifactStore, keys: KeyRing) -> None:
        self.inner = inner
        self.keys = keys
        self.uri = inner.uri
        self._cipher = _cipher_module()
        self._extracted: dict[str, bytes] = {}  # key id -> HKDF pseudo-random key

    def __repr__(self) -> str:
        return f"EncryptedArtifactStore({self.inner!r}, key_id={self.keys.current.key_id!r})"

    # -- the artifact store interface ------------------------------------------------------

    def put(self, data: BinaryIO) -> Digest:
        hasher = StreamHasher()
        self.inner.put_encoded(self._encrypt(data, hasher), hasher.digest)
        return hasher.digest()

    def open(self, digest: Digest) -> BinaryIO:
        raw = self.inner.open_encoded(digest)
        try:
            head = read_exact(raw, HEADER_SIZE)
            header = parse_header(head)
            key = None if header is None else self.keys.find(header.key_id)
            if header is None or key is None or header.version != VERSION:
                raw.seek(0)
                if header is not None and not _plaintext(raw, digest):
                    raise missing_key_error(digest, header)
                return VerifyingReader(raw, digest)  # stored before encryption was on
            reader = DecryptingReader(raw, header, self._aead(key, header.salt), digest)
        except BaseException:
            raw.close()
            raise
        return VerifyingReader(reader, digest)

    def exists(self, digest: Digest) -> bool:
        return self.inner.exists(digest)

    def size(self, digest: Digest) -> int:
        stored = self.inner.size(digest)
        header = parse_header(self.inner.read_encoded_head(digest, HEADER_SIZE))
        return stored if header is None else plaintext_size(stored)

    # -- optional capabilities, passed through to the inner store --------------------------

    def claim(self, digest: Digest) -> bool:
        return claim(self.inner, digest)

    def batched_writes(self) -> AbstractContextManager[None]:
        return batched_writes(self.inner)

    def scratch_folder(self) -> Path:
        return scratch_folder(self.inner) or Path(tempfile.gettempdir())

    def list_stored(self) -> Iterator[StoredObject]:
        return self.inner.list_stored()

    def remove_stored(self, item: StoredObject, *, cutoff: float) -> bool:
        return self.inner.remove_stored(item, cutoff=cutoff)

    # -- rotation ---------------------------------------------------------------------------

    def key_id_of(self, digest: Digest) -> str | None:
        """The id of the key the stored blob is encrypted with; None if stored in plaintext."""
        header = parse_header(self.inner.read_encoded_head(digest, HEADER_SIZE))
        return None if header is None else header.key_id

    def reencrypt(self, digest: Digest) -> bool:
        """Store the blob again under the current key (decrypted with the key it was written
        with, verified against its digest first); False if it already was under it."""
        if self.key_id_of(digest) == self.keys.current.key_id:
            return False
        with self.open(digest) as plain:
            hasher = StreamHasher()
            encrypted = self._encrypt(plain, hasher)
            self.inner.put_encoded(
                encrypted, lambda: _same_digest(hasher.digest(), digest), replace=True
            )
        return True

    # -- the cipher ---------------------------------------------------------------------------

    def _aead(self, key: EncryptionKey, salt: bytes) -> AESGCM:
        """AES-GCM under the blob's own key: HKDF-SHA256 (RFC 5869) of the master key, with
        the extract step done once per master key and the blob's salt in the expand step."""
        prk = self._extracted.get(key.key_id)
        if prk is None:
            prk = self._extracted[key.key_id] = hmac.digest(_KDF_LABEL, key.material, "sha256")
        return self._cipher.AESGCM(hmac.digest(prk, _KDF_LABEL + salt + b"\x01", "sha256"))

    def _encrypt(self, data: BinaryIO, hasher: StreamHasher) -> Iterator[bytes]:
        """The stored form of ``data``, frame by frame (the header rides with the first), while
        ``hasher`` hashes the plaintext. Holds at most two plaintext chunks."""
        key = self.keys.current
        salt = os.urandom(16)
        header = build_header(key.key_id, salt)
        aead = self._aead(key, salt)
        prefix = header
        current = read_exact(data, FRAME_PLAINTEXT)
        index = 0
        while True:
            following = (
                read_exact(data, FRAME_PLAINTEXT) if len(current) == FRAME_PLAINTEXT else b""
            )
            hasher.update(current)
            last = not following
            frame = aead.encrypt(frame_nonce(index, last=last), current, header)
            yield prefix + frame if prefix else frame
            if last:
                return
            prefix, current, index = b"", following, index + 1


class DecryptingReader(ChunkedReader):
    """The plaintext of an encrypted blob, decrypted frame by frame as it is read.

    A frame that fails authentication (changed, reordered, cut or extended) raises
    :class:`IntegrityError` before any of its bytes are returned.
    """

    def __init__(self, raw: BinaryIO, header: BlobHeader, aead: AESGCM, digest: Digest) -> None:
        super().__init__()
        self._raw = raw
        self._header = header
        self._aead = aead
        self._digest = digest
        self._pending: bytes | None = None  # the next frame, read ahead to spot the last one
        self._index = 0
        self._done = False

    def _next_chunk(self) -> bytes | None:
        return None if self._done else self._next_plaintext()

    def _release(self) -> None:
        self._raw.close()

    def _next_plaintext(self) -> bytes:
        frame = self._pending if self._pending is not None else read_exact(self._raw, FRAME_SIZE)
        following = read_exact(self._raw, FRAME_SIZE) if len(frame) == FRAME_SIZE else b""
        last = not following
        if len(frame) < TAG_SIZE:
            raise self._damaged("it is cut short")
        try:
            plaintext = self._aead.decrypt(
                frame_nonce(self._index, last=last), frame, self._header.raw
            )
        except Exception as exc:  # cryptography's InvalidTag: changed, cut or reordered
            if type(exc).__name__ != "InvalidTag":
                raise
            raise self._damaged(f"frame {self._index} fails authentication") from None
        self._pending, self._index, self._done = following, self._index + 1, last
        return plaintext

    def _damaged(self, why: str) -> IntegrityError:
        return IntegrityError(
            f"Blob {self._digest} is corrupted or was tampered with: the stored bytes do not "
            f"match their authentication tags ({why}; key {self._header.key_id}). Do not use "
            "this blob; restore it from a backup or log it again."
        )


def _plaintext(raw: BinaryIO, digest: Digest) -> bool:
    """Whether ``raw`` (a blob that starts like an encrypted one) is a plaintext blob that
    hashes to its digest; leaves ``raw`` at its start."""
    found = hashes_to(raw, digest)
    raw.seek(0)
    return found


def _same_digest(actual: Digest, expected: Digest) -> Digest:
    if actual != expected:
        raise IntegrityError(
            f"Blob {expected} read back as {actual} while re-encrypting it: left as it was."
        )
    return expected


class _CipherModule:
    """The part of ``cryptography`` this store uses, imported once per store."""

    def __init__(self) -> None:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        self.AESGCM = AESGCM


def _cipher_module() -> _CipherModule:
    try:
        return _CipherModule()
    except ImportError as exc:
        raise BackendUnavailableError(
            "Encryption at rest (LOOPML_ENCRYPTION_KEY_FILE / LOOPML_ENCRYPTION_KEY) needs the "
            f"'cryptography' package, which is not installed ({exc.name} is missing). "
            "Install it with: pip install 'loopml[encryption]'."
        ) from exc
