"""Pure parts of encryption at rest: the size arithmetic of the frame format, key parsing
and key ids (no key material in any message), and digests that parse strictly."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loopml.core.errors import ConfigError, EncryptionKeyError, InvalidInputError
from loopml.core.hashing import Digest
from loopml.stores.artifacts.encryption_format import (
    FRAME_PLAINTEXT,
    build_header,
    encrypted_size,
    parse_header,
    plaintext_size,
)
from loopml.stores.artifacts.encryption_keys import (
    keyring_from_env,
    new_key_text,
    parse_key,
)


@given(st.integers(min_value=0, max_value=50 * FRAME_PLAINTEXT))
def test_the_stored_size_gives_back_the_plaintext_size(size: int) -> None:
    assert plaintext_size(encrypted_size(size)) == size


def test_header_round_trips_and_other_bytes_are_not_a_header() -> None:
    header = parse_header(build_header("00112233445566ff", b"s" * 16) + b"frames")
    assert header is not None and header.key_id == "00112233445566ff"
    assert header.salt == b"s" * 16 and header.version == 1
    assert parse_header(b"PAR1 a parquet file, not an encrypted blob at all") is None


def test_keys_parse_from_base64_or_hex_and_errors_never_show_them(tmp_path: Path) -> None:
    text = new_key_text()
    key = parse_key(text, "k")
    assert parse_key(key.material.hex(), "k") == key
    assert parse_key(base64.urlsafe_b64encode(key.material).decode(), "k") == key
    assert len(key.key_id) == 16 and key.key_id not in text and text not in repr(key)
    secret_looking = "not-a-key-but-a-secret-" + "x" * 20
    with pytest.raises(EncryptionKeyError, match=r"key file .*line 3") as caught:
        key_file = tmp_path / "keys"
        key_file.write_text(f"# current first\n{text}\n{secret_looking}\n")
        keyring_from_env({"LOOPML_ENCRYPTION_KEY_FILE": str(key_file)})
    assert secret_looking not in str(caught.value)
    key_file.write_text(f"{text}\n\n{new_key_text()}\n")
    ring = keyring_from_env({"LOOPML_ENCRYPTION_KEY_FILE": str(key_file)})
    assert ring is not None and ring.current == key and len(ring.previous) == 1
    assert keyring_from_env({}) is None
    with pytest.raises(ConfigError, match="set one"):
        keyring_from_env({"LOOPML_ENCRYPTION_KEY_FILE": "x", "LOOPML_ENCRYPTION_KEY": text})


def test_a_digest_with_a_trailing_newline_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="64 lowercase"):
        Digest.parse("blake3:" + "a" * 64 + "\n")


def test_a_blob_built_from_the_written_format_with_an_independent_hkdf_reads_back(
    tmp_path: Path,
) -> None:
    """Pins the format: what docs and the module docstring say is what the store reads."""
    import io

    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.hashes import SHA256
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    from loopml.core.hashing import hash_bytes
    from loopml.stores.artifacts.encrypted import EncryptedArtifactStore
    from loopml.stores.artifacts.encryption_format import frame_nonce
    from loopml.stores.artifacts.encryption_keys import KeyRing
    from loopml.stores.artifacts.local import LocalArtifactStore

    key = parse_key("ab" * 32, "k")
    salt = bytes(range(16))
    plaintext = b"x" * (FRAME_PLAINTEXT + 10)
    label = b"loopml artifact v1"
    blob_key = HKDF(algorithm=SHA256(), length=32, salt=label, info=label + salt).derive(
        key.material
    )
    header = build_header(key.key_id, salt)
    aead = AESGCM(blob_key)
    stored = header + b"".join(
        aead.encrypt(frame_nonce(index, last=index == 1), chunk, header)
        for index, chunk in enumerate((plaintext[:FRAME_PLAINTEXT], plaintext[FRAME_PLAINTEXT:]))
    )
    digest = hash_bytes(plaintext)
    inner = LocalArtifactStore(str(tmp_path))
    inner.put_encoded([stored], lambda: digest)
    store = EncryptedArtifactStore(inner, KeyRing(key))
    with store.open(digest) as reader:
        assert reader.read() == plaintext
    assert store.size(digest) == len(plaintext)
    assert store.put(io.BytesIO(plaintext)) == digest
