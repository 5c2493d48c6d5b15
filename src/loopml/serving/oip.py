"""The Open Inference Protocol (KServe V2 / MLServer / Triton) REST bodies: the infer request
and response, and the model metadata, derived from the signature.

An array model takes one tensor named ``inputs``; a table model takes one 1-D tensor per
column, named as the column. The answer is one tensor named ``predictions``::

    POST /v2/models/cancer/infer
    {"inputs": [{"name": "inputs", "shape": [1, 30], "datatype": "FP64", "data": [...]}]}
    → {"model_name": "cancer", "model_version": "3", "id": "…",
       "outputs": [{"name": "predictions", "shape": [1], "datatype": "INT64", "data": [0]}],
       "parameters": {"prediction_ids": ["…-0"]}}
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from loopml.core.errors import InvalidInputError
from loopml.serving.columns import Where, column_array, describe_value
from loopml.serving.errors import InputMismatchError, UnsupportedMediaTypeError
from loopml.serving.oip_datatypes import DATATYPES, NUMERIC, check_declared
from loopml.serving.payloads import (
    JSON_MEDIA_TYPES,
    check_row_count,
    empty_rows,
    load_json,
    match_columns,
    media_type,
)
from loopml.serving.rows import Rows
from loopml.serving.signatures import (
    PREDICTIONS,
    TENSOR_INPUT,
    ColumnSpec,
    InputSpec,
    oip_datatype,
    output_metadata,
)
from loopml.serving.tensors import tensor_array

__all__ = ["DATATYPES", "InferRequest", "infer_response", "model_metadata", "parse_infer"]

_REQUEST_KEYS = ("id", "parameters", "inputs", "outputs")
_TENSOR_KEYS = ("name", "shape", "datatype", "data", "parameters")


@dataclass(frozen=True)
class InferRequest:
    """A checked infer request: its rows and the id the client gave (or None)."""

    rows: Rows
    id: str | None


def parse_infer(
    body: bytes, content_type: str | None, spec: InputSpec, *, max_rows: int
) -> InferRequest:
    """The rows of an infer request body, checked against ``spec``."""
    media = media_type(content_type)
    if media not in JSON_MEDIA_TYPES and not media.endswith("+json"):
        raise UnsupportedMediaTypeError(
            f"Content-Type {media!r} is not supported here; send the JSON form of the infer "
            "request (application/json), or the binary tensor data extension's form (with an "
            "Inference-Header-Content-Length header)."
        )
    document = load_json(body)
    if not isinstance(document, dict):
        raise InvalidInputError(
            "The body must be an infer request object with 'inputs'; got "
            f"{describe_value(document)}."
        )
    unknown = [key for key in document if key not in _REQUEST_KEYS]
    if unknown:
        raise InvalidInputError(
            f"{unknown[0]}: unknown key; an infer request has {', '.join(_REQUEST_KEYS)}."
        )
    request_id = document.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise InvalidInputError(f"id: expected a string, got {describe_value(request_id)}.")
    _check_outputs(document.get("outputs"))
    tensors = document.get("inputs")
    if not isinstance(tensors, list) or not tensors:
        raise InvalidInputError(
            f"inputs: expected a non-empty list of input tensors, got {describe_value(tensors)}."
        )
    for index, tensor in enumerate(tensors):
        _check_tensor(tensor, f"inputs[{index}]")
    if spec.columns is None:
        rows = _tensor_rows(tensors, spec, max_rows=max_rows)
    else:
        rows = _column_rows(tensors, spec, max_rows=max_rows)
    return InferRequest(rows, request_id)


def _check_outputs(outputs: Any) -> None:
    if outputs is None:
        return
    if not isinstance(outputs, list):
        raise InvalidInputError(f"outputs: expected a list, got {describe_value(outputs)}.")
    for index, output in enumerate(outputs):
        name = output.get("name") if isinstance(output, dict) else None
        if name != PREDICTIONS:
            raise InputMismatchError(
                f"outputs[{index}].name: the model has one output, {PREDICTIONS!r}; got "
                f"{describe_value(name)}."
            )


def _check_tensor(tensor: Any, field: str) -> None:
    if not isinstance(tensor, dict):
        raise InvalidInputError(f"{field}: expected a tensor object, got {describe_value(tensor)}.")
    unknown = [key for key in tensor if key not in _TENSOR_KEYS]
    if unknown:
        raise InvalidInputError(
            f"{field}.{unknown[0]}: unknown key; a tensor has {', '.join(_TENSOR_KEYS)}."
        )
    for key in ("name", "shape", "datatype", "data"):
        if key not in tensor:
            raise InvalidInputError(f"{field}.{key}: missing.")
    if not isinstance(tensor["name"], str):
        raise InvalidInputError(
            f"{field}.name: expected a string, got {describe_value(tensor['name'])}."
        )
    shape = tensor["shape"]
    if not isinstance(shape, list) or not all(type(size) is int and size >= 0 for size in shape):
        raise InvalidInputError(
            f"{field}.shape: expected a list of sizes (whole numbers ≥ 0), got "
            f"{describe_value(shape)}."
        )
    if tensor["datatype"] not in DATATYPES:
        raise InvalidInputError(
            f"{field}.datatype: {describe_value(tensor['datatype'])} is not one of "
            f"{', '.join(DATATYPES)}."
        )
    if not isinstance(tensor["data"], list):
        raise InvalidInputError(
            f"{field}.data: expected a list, got {describe_value(tensor['data'])}."
        )


def _tensor_rows(tensors: list[dict[str, Any]], spec: InputSpec, *, max_rows: int) -> Rows:
    assert spec.tensor is not None
    if len(tensors) != 1 or tensors[0]["name"] != TENSOR_INPUT:
        index = 1 if len(tensors) > 1 and tensors[0]["name"] == TENSOR_INPUT else 0
        raise InputMismatchError(
            f"inputs[{index}].name: this model takes one tensor, {TENSOR_INPUT!r}; got "
            f"{tensors[index]['name']!r}."
        )
    tensor = tensors[0]
    declared = tensor["datatype"]
    if spec.tensor.is_text or spec.tensor.dtype.kind == "b":
        fits = declared == spec.tensor.datatype
    else:
        fits = declared in NUMERIC
    if not fits:
        raise InputMismatchError(
            f"inputs[0].datatype: {declared}, but the model takes {spec.tensor.datatype}."
        )
    shape = tensor["shape"]
    if shape:
        check_row_count(shape[0], max_rows, "inputs[0].shape[0]")
        if shape[0] == 0:
            return empty_rows(spec)
    array = tensor_array(
        tensor["data"],
        spec.tensor,
        "inputs[0].data",
        allow_missing=spec.allow_missing,
        shape=shape,
        declared=declared,
    )
    return Rows(array)


def _column_rows(tensors: list[dict[str, Any]], spec: InputSpec, *, max_rows: int) -> Rows:
    import pyarrow as pa

    assert spec.columns is not None
    order = match_columns([tensor["name"] for tensor in tensors], spec, "inputs")
    count: int | None = None
    arrays = []
    for column, position in zip(spec.columns, order, strict=True):
        tensor = tensors[position]
        field = f"inputs[{position}]"
        _check_column_datatype(tensor["datatype"], column, field)
        shape = tensor["shape"]
        if len(shape) not in (1, 2) or (len(shape) == 2 and shape[1] != 1):
            raise InputMismatchError(
                f"{field}.shape: a column's tensor has shape [rows] or [rows, 1]; got {shape}."
            )
        if count is None:
            count = shape[0]
            check_row_count(count, max_rows, f"{field}.shape[0]")
        elif shape[0] != count:
            raise InputMismatchError(
                f"{field}.shape: {shape[0]} rows, but inputs[{order[0]}] has {count}; every "
                "column must have the same number of rows."
            )
        values = _flat(tensor["data"], f"{field}.data")
        if len(values) != shape[0]:
            raise InputMismatchError(
                f"{field}.data: {len(values)} values, but shape {shape} holds {shape[0]}."
            )
        check_declared(_array(values), values, tensor["datatype"], f"{field}.data")
        arrays.append(column_array(values, column, _tensor_field(field, column.name)))
    return Rows(pa.Table.from_arrays(arrays, names=spec.column_names))


def _array(values: list[Any]) -> Any:
    """``values`` as numpy holds them (objects when they are of several kinds)."""
    import numpy as np

    try:
        return np.array(values)
    except (ValueError, TypeError):
        return np.array(values, dtype=object)


def _tensor_field(field: str, name: str) -> Where:
    return lambda row: f"{field}.data[{row}] ({name})"


def _check_column_datatype(datatype: str, column: ColumnSpec, field: str) -> None:
    fits = datatype in NUMERIC if column.is_numeric else datatype == column.datatype
    if not fits:
        raise InputMismatchError(
            f"{field}.datatype: {datatype}, but column {column.name!r} is {column.type_name} "
            f"({column.datatype})."
        )


def _flat(data: list[Any], field: str) -> list[Any]:
    """A column's values, from flat data or from rows of one value each."""
    if not any(type(value) is list for value in data):
        return data
    for index, value in enumerate(data):
        if type(value) is not list or len(value) != 1:
            raise InputMismatchError(
                f"{field}[{index}]: expected one value per row, got {describe_value(value)}."
            )
    return list(itertools.chain.from_iterable(data))


def infer_response(
    *,
    model_name: str,
    model_version: int,
    request_id: str,
    predictions: Any,
    prediction_ids: list[str],
) -> dict[str, Any]:
    """The infer response body (the tensor's data flattened in row-major order)."""
    import numpy as np

    array = np.asarray(predictions)
    data: Any = np.ascontiguousarray(array).ravel()
    if array.dtype.kind not in "biuf":
        data = [str(value) for value in data.tolist()]
    return {
        "model_name": model_name,
        "model_version": str(model_version),
        "id": request_id,
        "parameters": {"prediction_ids": prediction_ids},
        "outputs": [
            {
                "name": PREDICTIONS,
                "shape": list(array.shape),
                "datatype": oip_datatype(array.dtype),
                "data": data,
            }
        ],
    }


def model_metadata(
    *, name: str, version: int, platform: str, spec: InputSpec, signature: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The model metadata response: inputs and outputs with datatype and shape."""
    if spec.columns is not None:
        inputs = [
            {"name": column.name, "datatype": column.datatype, "shape": [-1]}
            for column in spec.columns
        ]
    else:
        assert spec.tensor is not None
        inputs = [
            {
                "name": TENSOR_INPUT,
                "datatype": spec.tensor.datatype,
                "shape": list(spec.tensor.shape),
            }
        ]
    return {
        "name": name,
        "versions": [str(version)],
        "platform": platform,
        "inputs": inputs,
        "outputs": output_metadata(signature),
    }
