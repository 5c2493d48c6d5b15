"""The binary tensor data extension's bodies, and gzip request bodies, decoded with limits."""

from __future__ import annotations

import gzip
import json
import struct
import zlib

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from loopml.core.errors import InvalidInputError
from loopml.serving.content_encoding import decode_body
from loopml.serving.errors import (
    InputMismatchError,
    PayloadTooLargeError,
    UnsupportedMediaTypeError,
)
from loopml.serving.oip_binary import (
    decode_binary_request,
    encode_binary_response,
    wants_binary_output,
)


def _body(inputs: list[dict[str, object]], tail: bytes) -> tuple[bytes, str]:
    head = json.dumps({"inputs": inputs}).encode()
    return head + tail, str(len(head))


@given(values=st.lists(st.integers(-(2**31), 2**31 - 1), min_size=1, max_size=50))
def test_int32_tensors_decode_to_their_values(values: list[int]) -> None:
    raw = np.asarray(values, "<i4").tobytes()
    tensor = {"name": "x", "shape": [len(values)], "datatype": "INT32"}
    body, length = _body([{**tensor, "parameters": {"binary_data_size": len(raw)}}], raw)
    (decoded,) = decode_binary_request(body, length)["inputs"]
    assert decoded == {**tensor, "data": values}


def test_bytes_elements_are_length_prefixed_and_json_inputs_stay_as_they_are() -> None:
    raw = b"".join(struct.pack("<I", len(t)) + t for t in (b"a", b"", "é".encode()))
    body, length = _body(
        [
            {
                "name": "s",
                "shape": [3],
                "datatype": "BYTES",
                "parameters": {"binary_data_size": len(raw)},
            },
            {"name": "n", "shape": [1], "datatype": "FP64", "data": [1.5]},
        ],
        raw,
    )
    strings, numbers = decode_binary_request(body, length)["inputs"]
    assert strings["data"] == ["a", "", "é"] and numbers["data"] == [1.5]


@pytest.mark.parametrize(
    ("length", "size", "tail", "error", "text"),
    [
        ("x", 8, b"\0" * 8, InvalidInputError, "Inference-Header-Content-Length: 'x'"),
        (None, 16, b"\0" * 8, InvalidInputError, "only 8 bytes of binary data are left"),
        (None, 8, b"\0" * 12, InvalidInputError, "4 bytes after the binary data"),
        (None, 6, b"\0" * 6, InputMismatchError, "not a whole number of FP64 values"),
        (None, -1, b"", InvalidInputError, "whole number of bytes"),
    ],
)
def test_binary_bodies_that_do_not_add_up_are_refused_saying_why(
    length: str | None, size: int, tail: bytes, error: type[Exception], text: str
) -> None:
    tensor = {
        "name": "x",
        "shape": [1],
        "datatype": "FP64",
        "parameters": {"binary_data_size": size},
    }
    body, header = _body([tensor], tail)
    with pytest.raises(error, match=text):
        decode_binary_request(body, length or header)


def test_a_binary_answer_puts_each_outputs_data_after_the_json_header() -> None:
    content = {
        "id": "1",
        "outputs": [{"name": "predictions", "shape": [2], "datatype": "FP32", "data": [0.5, 2]}],
    }
    body, length = encode_binary_response(content)
    header = json.loads(body[:length])
    assert header["outputs"][0]["parameters"] == {"binary_data_size": 8}
    assert "data" not in header["outputs"][0]
    assert np.frombuffer(body[length:], "<f4").tolist() == [0.5, 2.0]


def test_a_binary_answer_is_given_when_the_request_or_an_output_asks() -> None:
    assert wants_binary_output({"parameters": {"binary_data_output": True}})
    assert wants_binary_output({"outputs": [{"name": "p", "parameters": {"binary_data": True}}]})
    assert not wants_binary_output({"outputs": [{"name": "p"}]})


def test_gzip_and_deflate_bodies_are_decompressed() -> None:
    assert decode_body(gzip.compress(b"{}"), "gzip", 10) == b"{}"
    assert decode_body(zlib.compress(b"{}"), "deflate", 10) == b"{}"
    assert decode_body(b"{}", "identity", 10) == b"{}"


def test_a_body_that_expands_past_the_limit_is_refused_without_expanding_it_all() -> None:
    bomb = gzip.compress(b"\0" * 50_000_000)
    with pytest.raises(PayloadTooLargeError, match="expands to more than 1000 bytes"):
        decode_body(bomb, "gzip", 1000)


def test_unknown_encodings_and_broken_data_are_refused() -> None:
    with pytest.raises(UnsupportedMediaTypeError, match="'br' is not supported"):
        decode_body(b"{}", "br", 10)
    with pytest.raises(InvalidInputError, match="not valid gzip"):
        decode_body(b"{}", "gzip", 10)
    with pytest.raises(InvalidInputError, match="ends early"):
        decode_body(gzip.compress(b"{}" * 100)[:-12], "gzip", 1000)
