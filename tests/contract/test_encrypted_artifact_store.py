"""The artifact store contract again, with encryption at rest on (local and S3), plus what
only encryption promises: the stored bytes never contain the plaintext, and a store without
the key refuses to read them."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from loopml.core.errors import EncryptionKeyError, IntegrityError
from loopml.core.hashing import hash_bytes
from loopml.stores.artifacts.encrypted import EncodingArtifactStore, EncryptedArtifactStore
from loopml.stores.artifacts.encryption_format import HEADER_SIZE, encrypted_size
from loopml.stores.artifacts.encryption_keys import KeyRing, parse_key
from loopml.stores.artifacts.fsspec_store import FsspecArtifactStore
from loopml.stores.artifacts.local import LocalArtifactStore
from loopml.stores.artifacts.rotation import PLAINTEXT, count_keys, rotate_keys
from tests.contract.artifact_backends import fsspec_backend, local_backend
from tests.contract.artifact_checks import (
    ArtifactBackendHandle,
    ArtifactCheck,
    artifact_store_checks,
)

KEY = parse_key("00" * 32, "test key")
OTHER_KEY = parse_key("11" * 32, "other test key")
SECRET = b"patient_id,diagnosis\n4711,very private text that must never be stored as is\n"
CASES = [
    pytest.param(name, check, marks=marks, id=f"{name}-{check.__name__}")
    for name, marks in (("encrypted_local", ()), ("encrypted_s3", (pytest.mark.s3,)))
    for check in artifact_store_checks()
]


def _damaged(data: bytes) -> bytes:
    """One byte changed inside the first frame (past the header): only the tag can tell."""
    position = min(HEADER_SIZE + 5, len(data) - 1)
    return data[:position] + bytes([data[position] ^ 0x01]) + data[position + 1 :]


def _encrypted(inner: EncodingArtifactStore) -> EncryptedArtifactStore:
    return EncryptedArtifactStore(inner, KeyRing(KEY))


@pytest.fixture
def encrypted_local_artifact_backend(tmp_path: Path) -> ArtifactBackendHandle:
    return local_backend("encrypted_local", tmp_path / "artifacts", _damaged, _encrypted)


@pytest.fixture
def encrypted_s3_artifact_backend(
    s3_admin_filesystem: Any, s3_artifact_uri: str
) -> ArtifactBackendHandle:
    blobs = f"{s3_artifact_uri.removeprefix('s3://')}/blobs"
    return fsspec_backend(
        "encrypted_s3", s3_artifact_uri, s3_admin_filesystem, blobs, _damaged, _encrypted
    )


@pytest.mark.parametrize(("backend", "check"), CASES)
def test_encrypted_artifact_store_contract(
    request: pytest.FixtureRequest, backend: str, check: ArtifactCheck
) -> None:
    handle = request.getfixturevalue(f"{backend}_artifact_backend")
    assert isinstance(handle, ArtifactBackendHandle)
    check(handle)


def test_local_blob_on_disk_holds_no_plaintext_and_needs_the_key(tmp_path: Path) -> None:
    inner = LocalArtifactStore(str(tmp_path / "artifacts"))
    digest = EncryptedArtifactStore(inner, KeyRing(KEY)).put(io.BytesIO(SECRET))
    assert digest == hash_bytes(SECRET)  # named by the plaintext: dedup and lineage unchanged
    stored = inner.blob_path(digest).read_bytes()
    assert b"private" not in stored and b"patient_id" not in stored
    assert len(stored) == encrypted_size(len(SECRET))
    with pytest.raises(EncryptionKeyError, match=f"{digest} is encrypted with key"):
        inner.open(digest)  # no key: a clear error, never the ciphertext
    with pytest.raises(EncryptionKeyError, match=KEY.key_id):
        EncryptedArtifactStore(inner, KeyRing(OTHER_KEY)).open(digest)
    reopened = EncryptedArtifactStore(inner, KeyRing(OTHER_KEY, (KEY,)))
    with reopened.open(digest) as reader:
        assert reader.read() == SECRET
    assert reopened.size(digest) == len(SECRET)


def test_s3_object_holds_no_plaintext_and_needs_the_key(
    s3_admin_filesystem: Any, s3_artifact_uri: str
) -> None:
    inner = FsspecArtifactStore(s3_artifact_uri)
    store = EncryptedArtifactStore(inner, KeyRing(KEY))
    digest = store.put(io.BytesIO(SECRET))
    stored = s3_admin_filesystem.cat_file(inner.blob_key(digest))
    assert b"private" not in stored and b"patient_id" not in stored
    with pytest.raises(EncryptionKeyError, match=KEY.key_id):
        inner.open(digest)
    with store.open(digest) as reader:
        assert reader.read() == SECRET


def test_reencrypt_moves_a_blob_to_the_current_key_and_keeps_its_digest(tmp_path: Path) -> None:
    inner = LocalArtifactStore(str(tmp_path / "artifacts"))
    plain = inner.put(io.BytesIO(b"stored before encryption was on"))
    old = EncryptedArtifactStore(inner, KeyRing(KEY))
    digest = old.put(io.BytesIO(SECRET * 40_000))  # several frames
    assert old.open(digest).read() == SECRET * 40_000  # and plaintext blobs still read
    assert old.open(plain).read() == b"stored before encryption was on"
    rotated = EncryptedArtifactStore(inner, KeyRing(OTHER_KEY, (KEY,)))
    assert [rotated.reencrypt(d) for d in (digest, plain, digest)] == [True, True, False]
    assert rotated.key_id_of(digest) == rotated.key_id_of(plain) == OTHER_KEY.key_id
    only_new = EncryptedArtifactStore(inner, KeyRing(OTHER_KEY))
    assert only_new.open(digest).read() == SECRET * 40_000
    assert only_new.open(plain).read() == b"stored before encryption was on"


def test_cut_or_extended_blob_is_refused(tmp_path: Path) -> None:
    inner = LocalArtifactStore(str(tmp_path / "artifacts"))
    store = EncryptedArtifactStore(inner, KeyRing(KEY))
    digest = store.put(io.BytesIO(SECRET * 40_000))
    path = inner.blob_path(digest)
    path.chmod(0o644)
    whole = path.read_bytes()
    for damaged in (whole[: 1 << 20], whole + whole[HEADER_SIZE:]):
        path.write_bytes(damaged)
        with store.open(digest) as reader, pytest.raises(IntegrityError, match="tags"):
            reader.read()


def test_rotate_keys_moves_loose_packed_and_plaintext_blobs_to_the_current_key(
    tmp_path: Path,
) -> None:
    inner = LocalArtifactStore(str(tmp_path / "artifacts"))
    plain = inner.put(io.BytesIO(b"from before encryption"))
    old = EncryptedArtifactStore(inner, KeyRing(KEY))
    with old.batched_writes():  # small blobs go into a pack
        packed = [old.put(io.BytesIO(b"small %d" % i)) for i in range(3)]
    loose = old.put(io.BytesIO(SECRET * 40_000))
    before = count_keys(old)
    assert dict(before.blobs_by_key) == {KEY.key_id: 4, PLAINTEXT: 1}
    rotated = EncryptedArtifactStore(inner, KeyRing(OTHER_KEY, (KEY,)))
    assert rotate_keys(rotated).reencrypted == 5
    assert rotate_keys(rotated).reencrypted == 0  # a second run finds nothing to do
    only_new = EncryptedArtifactStore(inner, KeyRing(OTHER_KEY))
    assert dict(count_keys(only_new).blobs_by_key) == {OTHER_KEY.key_id: 5}
    for digest in (plain, *packed, loose):
        with only_new.open(digest) as reader:
            assert hash_bytes(reader.read()) == digest
