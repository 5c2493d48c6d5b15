"""The binary tensor extension holds values to their declared datatype exactly as a JSON
infer request is: the same 400 through both encodings; a float NaN is a missing value."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import orjson
import pytest

from loopml.core.errors import InvalidInputError, LoopMLError
from loopml.serving.oip import parse_infer
from loopml.serving.oip_binary import decode_binary_request
from loopml.serving.signatures import InputSpec, input_spec


def _spec(dtype: str, *, missing: bool = False) -> InputSpec:
    signature = {"inputs": {"kind": "tensor", "dtype": dtype, "shape": [-1], "missing": missing}}
    return input_spec(signature)


def _through_json(spec: InputSpec, datatype: str, data: list[Any]) -> Any:
    tensor = {"name": "inputs", "shape": [len(data)], "datatype": datatype, "data": data}
    body = json.dumps({"inputs": [tensor]}).encode()
    return parse_infer(body, "application/json", spec, max_rows=100).rows


def _through_binary(spec: InputSpec, datatype: str, count: int, raw: bytes) -> Any:
    """As the model server takes it: the binary body decoded, then the JSON infer request."""
    tensor = {"name": "inputs", "shape": [count], "datatype": datatype}
    head = json.dumps({"inputs": [{**tensor, "parameters": {"binary_data_size": len(raw)}}]})
    document = decode_binary_request(head.encode() + raw, str(len(head.encode())))
    return parse_infer(orjson.dumps(document), "application/json", spec, max_rows=100).rows


def _refusal(call: Any) -> tuple[int, str]:
    with pytest.raises(LoopMLError) as refused:
        call()
    return refused.value.http_status, refused.value.message


def test_a_bool_byte_other_than_0_or_1_gets_the_400_a_json_request_gets() -> None:
    spec = _spec("bool")
    binary = _refusal(lambda: _through_binary(spec, "BOOL", 3, bytes([1, 2, 0])))
    plain = _refusal(lambda: _through_json(spec, "BOOL", [True, 2, False]))
    assert binary == plain
    assert binary[0] == 400 and "inputs[0].data[1]: " in binary[1] and "BOOL" in binary[1]
    rows = _through_binary(spec, "BOOL", 3, bytes([1, 0, 1]))
    assert rows.count == 3


@pytest.mark.parametrize(("dtype", "datatype", "code"), [("float32", "FP32", "<f4"),
                                                         ("float64", "FP64", "<f8")])  # fmt: skip
def test_an_infinite_float_is_refused_even_where_missing_values_are_taken(
    dtype: str, datatype: str, code: str
) -> None:
    spec = _spec(dtype, missing=True)
    raw = np.array([1.5, np.inf, 2.0], dtype=code).tobytes()
    with pytest.raises(InvalidInputError, match=rf"inputs\[0\]\.data\[1\]: .* not a {datatype}"):
        _through_binary(spec, datatype, 3, raw)


def test_a_float_nan_is_a_missing_value_like_a_json_null() -> None:
    raw = np.array([1.5, np.nan], dtype="<f8").tobytes()
    assert _through_binary(_spec("float64", missing=True), "FP64", 2, raw).count == 2
    binary = _refusal(lambda: _through_binary(_spec("float64"), "FP64", 2, raw))
    plain = _refusal(lambda: _through_json(_spec("float64"), "FP64", [1.5, None]))
    assert binary == plain
