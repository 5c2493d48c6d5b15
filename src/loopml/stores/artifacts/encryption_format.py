"""The on-disk format of an encrypted blob, and how stores without the key refuse one.

An encrypted blob is a 32-byte header followed by frames::

    header = MAGIC (7 bytes) | version (1 byte) | key id (8 bytes) | salt (16 bytes)
    frame  = AES-256-GCM(plaintext chunk) | tag (16 bytes)

Every plaintext chunk holds :data:`FRAME_PLAINTEXT` bytes except the last, which may be
shorter (or empty: an empty blob is one empty frame). Each blob has its own key, derived
from the master key and the blob's random salt (HKDF-SHA256: extract with the label
``loopml artifact v1`` as salt, expand with the label and the blob's salt as info, 32
bytes), so nonces never repeat: the
nonce of frame ``i`` is ``i`` (11 bytes, big-endian) and one byte that is 1 on the last
frame only, so frames cannot be reordered, dropped or appended. The header is the
associated data of every frame. The stored size fixes the plaintext size
(:func:`plaintext_size`), so a store answers sizes without decrypting.

This module is pure (no ``cryptography``): stores without a key use it to recognise an
encrypted blob and refuse to hand out its bytes (:func:`refuse_if_encrypted`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import BinaryIO

from loopml.core.errors import EncryptionKeyError
from loopml.core.hashing import CHUNK_SIZE, Digest, StreamHasher

MAGIC = b"\x89LMLENC"
VERSION = 1
KEY_ID_SIZE = 8
SALT_SIZE = 16
HEADER_SIZE = len(MAGIC) + 1 + KEY_ID_SIZE + SALT_SIZE
TAG_SIZE = 16
FRAME_PLAINTEXT = CHUNK_SIZE
FRAME_SIZE = FRAME_PLAINTEXT + TAG_SIZE
KEY_HINT = (
    "Set LOOPML_ENCRYPTION_KEY_FILE (or LOOPML_ENCRYPTION_KEY) to the key it was written "
    "with; after a rotation, keep the old keys on the following lines of the key file."
)


@dataclass(frozen=True, slots=True)
class BlobHeader:
    """The parsed header of an encrypted blob; ``raw`` is its 32 bytes (the frames' AAD)."""

    version: int
    key_id: str
    salt: bytes
    raw: bytes


def build_header(key_id: str, salt: bytes) -> bytes:
    return MAGIC + bytes([VERSION]) + bytes.fromhex(key_id) + salt


def parse_header(head: bytes) -> BlobHeader | None:
    """The header at the start of ``head``, or None if the bytes are not an encrypted blob."""
    if len(head) < HEADER_SIZE or not head.startswith(MAGIC):
        return None
    raw = head[:HEADER_SIZE]
    start = len(MAGIC) + 1
    key_id = raw[start : start + KEY_ID_SIZE].hex()
    return BlobHeader(raw[len(MAGIC)], key_id, raw[start + KEY_ID_SIZE :], raw)


def frame_nonce(index: int, *, last: bool) -> bytes:
    return index.to_bytes(11, "big") + (b"\x01" if last else b"\x00")


def encrypted_size(plaintext: int) -> int:
    """The stored size of a blob of ``plaintext`` bytes."""
    frames = max(1, math.ceil(plaintext / FRAME_PLAINTEXT))
    return HEADER_SIZE + plaintext + frames * TAG_SIZE


def plaintext_size(stored: int) -> int:
    """The plaintext size of an encrypted blob stored in ``stored`` bytes (the inverse of
    :func:`encrypted_size`; 0 for a blob too short to hold a frame, which fails on read)."""
    body = stored - HEADER_SIZE
    if body < TAG_SIZE:
        return 0
    return body - math.ceil(body / FRAME_SIZE) * TAG_SIZE


def read_exact(stream: BinaryIO, size: int) -> bytes:
    """``size`` bytes, fewer only at the end of ``stream`` (reads may return short)."""
    first = stream.read(size)
    if len(first) == size or not first:
        return first
    parts = [first]
    missing = size - len(first)
    while missing:
        more = stream.read(missing)
        if not more:
            break
        parts.append(more)
        missing -= len(more)
    return b"".join(parts)


def hashes_to(stream: BinaryIO, digest: Digest) -> bool:
    """Whether the rest of ``stream`` hashes to ``digest`` (reads it to the end)."""
    hasher = StreamHasher()
    while chunk := stream.read(CHUNK_SIZE):
        hasher.update(chunk)
    return hasher.digest() == digest


def missing_key_error(digest: Digest, header: BlobHeader) -> EncryptionKeyError:
    if header.version != VERSION:
        return EncryptionKeyError(
            f"Blob {digest} is encrypted in format version {header.version}, which this "
            f"loopml cannot read (it reads version {VERSION}): upgrade loopml."
        )
    return EncryptionKeyError(
        f"Blob {digest} is encrypted with key {header.key_id}, which is not configured "
        f"here. {KEY_HINT}"
    )


def refuse_if_encrypted(raw: BinaryIO, digest: Digest) -> None:
    """For a store without a key: :class:`EncryptionKeyError` if the seekable ``raw`` holds
    an encrypted blob, so its ciphertext is never handed out as the blob's bytes. ``raw`` is
    left at its start. A plaintext blob that merely starts with the same bytes hashes to its
    digest and is let through (checked only then: one extra pass in that rare case)."""
    head = read_exact(raw, HEADER_SIZE)
    raw.seek(0)
    header = parse_header(head)
    if header is None:
        return
    plaintext = hashes_to(raw, digest)
    raw.seek(0)
    if not plaintext:
        raise missing_key_error(digest, header)
