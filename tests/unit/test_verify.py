"""VerifyingReader: hashes what passes through and fails at the end if the bytes changed."""

from __future__ import annotations

import io
import shutil

import pytest

from loopml.core.errors import IntegrityError
from loopml.core.hashing import CHUNK_SIZE, hash_bytes
from loopml.stores.artifacts.verify import VerifyingReader

DATA = bytes(range(256)) * 10_000  # 2.5 MB: more than two iteration chunks


def reader(data: bytes = DATA, expected: bytes = DATA) -> VerifyingReader:
    return VerifyingReader(io.BytesIO(data), hash_bytes(expected))


def test_read_all_returns_the_bytes_when_they_match() -> None:
    assert reader().read() == DATA


def test_read_in_pieces_returns_the_bytes_when_they_match() -> None:
    source = reader()
    pieces = []
    while piece := source.read(7_777):
        pieces.append(piece)
    assert b"".join(pieces) == DATA
    assert source.bytes_read == len(DATA)


def test_readinto_fills_the_buffer_and_verifies_at_the_end() -> None:
    source, out, buffer = reader(), bytearray(), bytearray(100_000)
    while n := source.readinto(buffer):
        out += buffer[:n]
    assert bytes(out) == DATA


def test_iteration_yields_chunks_not_lines() -> None:
    chunks = list(reader())
    assert b"".join(chunks) == DATA
    assert [len(c) for c in chunks[:-1]] == [CHUNK_SIZE] * (len(chunks) - 1)


def test_readline_is_hashed_too() -> None:
    text = b"first\nsecond\n"
    source = reader(text, text)
    assert source.readline() == b"first\n"
    assert source.read() == b"second\n"


def test_copyfileobj_works_and_verifies() -> None:
    target = io.BytesIO()
    shutil.copyfileobj(reader(), target)
    assert target.getvalue() == DATA
    with pytest.raises(IntegrityError):
        shutil.copyfileobj(reader(expected=DATA + b"!"), io.BytesIO())


def test_tampered_bytes_raise_integrity_error_at_the_end_naming_the_digest() -> None:
    tampered = b"X" + DATA[1:]
    source = reader(tampered, DATA)
    assert source.read(1000) == tampered[:1000]  # no verdict before the end
    with pytest.raises(IntegrityError) as caught:
        source.read()
    message = str(caught.value)
    assert str(hash_bytes(DATA)) in message
    assert "do not match" in message
    assert "corrupted" in message
    assert "tampered" in message


def test_truncated_bytes_raise_integrity_error() -> None:
    with pytest.raises(IntegrityError):
        reader(DATA[:-1], DATA).read()


def test_every_read_at_the_end_raises_again_after_a_mismatch() -> None:
    source = reader(b"bad", b"good")
    with pytest.raises(IntegrityError):
        source.read()
    with pytest.raises(IntegrityError):
        source.read(10)


def test_read_zero_gives_no_verdict() -> None:
    source = reader(b"bad", b"good")
    assert source.read(0) == b""


def test_empty_blob_verifies() -> None:
    assert reader(b"", b"").read() == b""


def test_context_manager_closes_the_underlying_stream() -> None:
    raw = io.BytesIO(DATA)
    with VerifyingReader(raw, hash_bytes(DATA)) as source:
        assert source.read(3) == DATA[:3]
    assert source.closed
    assert raw.closed
    with pytest.raises(ValueError, match="closed"):
        source.read()


def test_reader_is_read_only_and_not_seekable() -> None:
    source = reader()
    assert source.readable()
    assert not source.writable()
    assert not source.seekable()
