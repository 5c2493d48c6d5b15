"""The Open Inference Protocol's binary tensor data extension, as Triton's and KServe's clients
send it by default.

A request with an ``Inference-Header-Content-Length: N`` header starts with N bytes of JSON
(the infer request); the raw data of every input whose ``parameters`` hold ``binary_data_size``
follows, in the order of the inputs: little-endian values in row-major order, BOOL one byte
each, BYTES elements each a 4-byte little-endian length and that many bytes.
:func:`decode_binary_request` turns such a body into the plain JSON infer request, holding
the values to their datatype as a JSON request is (``oip_datatypes.check_declared``): a BOOL
byte other than 0 or 1 and an infinite float are refused; a NaN is a missing value (null).

The answer is binary too when the request asks for it (``parameters.binary_data_output``, or
``binary_data`` in the parameters of a requested output): :func:`encode_binary_response`.
"""

from __future__ import annotations

import struct
from typing import Any

from loopml.core.errors import InvalidInputError
from loopml.serving.errors import InputMismatchError
from loopml.serving.oip_datatypes import check_declared

__all__ = [
    "HEADER_LENGTH",
    "decode_binary_request",
    "encode_binary_response",
    "wants_binary_output",
]

HEADER_LENGTH = "inference-header-content-length"
_NUMPY = {
    "BOOL": "?",
    "UINT8": "<u1",
    "UINT16": "<u2",
    "UINT32": "<u4",
    "UINT64": "<u8",
    "INT8": "<i1",
    "INT16": "<i2",
    "INT32": "<i4",
    "INT64": "<i8",
    "FP16": "<f2",
    "FP32": "<f4",
    "FP64": "<f8",
}
_HEADER = "Inference-Header-Content-Length"


def decode_binary_request(body: bytes, header_length: str) -> dict[str, Any]:
    """The infer request of a binary ``body`` whose JSON part is ``header_length`` bytes, with
    every binary input's data as a JSON list (its ``binary_data_size`` removed)."""
    import orjson

    if not header_length.isdigit() or not 0 < int(header_length) <= len(body):
        raise InvalidInputError(
            f"{_HEADER}: {header_length!r} is not the length of the JSON part of this "
            f"{len(body)}-byte body; give its size in bytes (at least 1)."
        )
    split = int(header_length)
    try:
        document = orjson.loads(body[:split])
    except orjson.JSONDecodeError as exc:
        raise InvalidInputError(
            f"The first {split} bytes of the body ({_HEADER}) are not valid JSON: {exc}."
        ) from exc
    if not isinstance(document, dict):
        raise InvalidInputError(
            f"The JSON part of the body ({_HEADER}) must be an infer request object with 'inputs'."
        )
    inputs = document.get("inputs")
    if not isinstance(inputs, list):
        return document
    offset = split
    for index, tensor in enumerate(inputs):
        size = _binary_size(tensor, f"inputs[{index}]")
        if size is None:
            continue
        if offset + size > len(body):
            raise InvalidInputError(
                f"inputs[{index}].parameters.binary_data_size: {size} bytes, but only "
                f"{len(body) - offset} bytes of binary data are left in the body."
            )
        tensor["data"] = _values(body[offset : offset + size], tensor, f"inputs[{index}]")
        offset += size
    if offset != len(body):
        raise InvalidInputError(
            f"The body has {len(body) - offset} bytes after the binary data of its inputs "
            "(their parameters.binary_data_size add up to less); send only those."
        )
    return document


def _binary_size(tensor: Any, field: str) -> int | None:
    parameters = tensor.get("parameters") if isinstance(tensor, dict) else None
    if not isinstance(parameters, dict) or "binary_data_size" not in parameters:
        return None
    size = parameters.pop("binary_data_size")
    if not parameters:
        del tensor["parameters"]
    if type(size) is not int or size < 0:
        raise InvalidInputError(
            f"{field}.parameters.binary_data_size: expected a whole number of bytes ≥ 0, "
            f"got {size!r}."
        )
    if "data" in tensor:
        raise InvalidInputError(
            f"{field}: has both 'data' and parameters.binary_data_size; send one of them."
        )
    return size


def _values(raw: bytes, tensor: dict[str, Any], field: str) -> list[Any]:
    import numpy as np

    datatype = tensor.get("datatype")
    if datatype == "BYTES":
        return _bytes_elements(raw, field)
    if datatype not in _NUMPY:
        raise InvalidInputError(
            f"{field}.datatype: {datatype!r} has no binary form; use one of "
            f"{', '.join([*_NUMPY, 'BYTES'])}."
        )
    dtype = np.dtype(_NUMPY[datatype])
    if len(raw) % dtype.itemsize:
        raise InputMismatchError(
            f"{field}.parameters.binary_data_size: {len(raw)} bytes is not a whole number of "
            f"{datatype} values ({dtype.itemsize} bytes each)."
        )
    if datatype == "BOOL":  # any byte reads as a bool: only 0 and 1 are BOOL values
        codes = np.frombuffer(raw, "<u1")
        flags: list[Any] = [value if value > 1 else bool(value) for value in codes.tolist()]
        if codes.size and int(codes.max()) > 1:
            check_declared(np.array(flags, dtype=object), flags, datatype, f"{field}.data")
        return flags
    array = np.frombuffer(raw, dtype=dtype)
    values: list[Any] = array.tolist()
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        # NaN is how a binary tensor says "missing" (JSON null); ±inf is no value at all
        values = [None if value != value else value for value in values]
        check_declared(np.array(values, dtype=object), values, datatype, f"{field}.data")
    return values


def _bytes_elements(raw: bytes, field: str) -> list[Any]:
    values: list[Any] = []
    at = 0
    while at < len(raw):
        if at + 4 > len(raw):
            raise InputMismatchError(
                f"{field}: BYTES element {len(values)} is cut short: {len(raw) - at} bytes "
                "left where its 4-byte length should be."
            )
        (length,) = struct.unpack_from("<I", raw, at)
        at += 4
        if at + length > len(raw):
            raise InputMismatchError(
                f"{field}: BYTES element {len(values)} says {length} bytes, but only "
                f"{len(raw) - at} are left."
            )
        chunk = raw[at : at + length]
        at += length
        try:
            values.append(chunk.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise InputMismatchError(
                f"{field}: BYTES element {len(values)} is not UTF-8 text ({exc.reason} at byte "
                f"{exc.start}); this server takes text in BYTES tensors."
            ) from exc
    return values


def wants_binary_output(document: dict[str, Any]) -> bool:
    """Whether the request asks for its outputs' data in binary."""
    parameters = document.get("parameters")
    if isinstance(parameters, dict) and parameters.get("binary_data_output") is True:
        return True
    outputs = document.get("outputs")
    return isinstance(outputs, list) and any(
        isinstance(output, dict)
        and isinstance(output.get("parameters"), dict)
        and output["parameters"].get("binary_data") is True
        for output in outputs
    )


def encode_binary_response(content: dict[str, Any]) -> tuple[bytes, int]:
    """The infer response ``content`` with every output's data in binary after the JSON
    header; returns the body and the header's length (for ``Inference-Header-Content-Length``)."""
    import numpy as np
    import orjson

    tails: list[bytes] = []
    outputs = []
    for output in content["outputs"]:
        data = output["data"]
        if output["datatype"] == "BYTES":
            raw = b"".join(
                struct.pack("<I", len(item)) + item
                for item in (str(value).encode("utf-8") for value in data)
            )
        else:
            raw = np.asarray(data, dtype=_NUMPY[output["datatype"]]).tobytes()
        tails.append(raw)
        parameters = {**output.get("parameters", {}), "binary_data_size": len(raw)}
        outputs.append(
            {key: value for key, value in output.items() if key != "data"}
            | {"parameters": parameters}
        )
    header = orjson.dumps({**content, "outputs": outputs}, option=orjson.OPT_SERIALIZE_NUMPY)
    return header + b"".join(tails), len(header)
