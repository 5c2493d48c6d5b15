"""Ready-to-paste ``curl`` requests that fit a served version: one row of its input example
(or, without one, a placeholder value of each input's type) in the body of ``/invocations``
and of the Open Inference Protocol's ``infer``, as ``loopml serve`` prints them once ready.

>>> example_requests(spec, example, url="http://127.0.0.1:8080", name="cancer")  # doctest: +SKIP
["curl -s http://127.0.0.1:8080/invocations -H 'Content-Type: application/json' -d '{…}'",
 "curl -s http://127.0.0.1:8080/v2/models/cancer/infer -H 'Content-Type: application/json' …"]
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from loopml.serving.signatures import TENSOR_INPUT, ColumnSpec, InputSpec

__all__ = ["example_requests", "example_row", "invocations_body", "oip_body"]

_PLACEHOLDERS = {"BOOL": False, "BYTES": "text"}
_DATETIME = "2026-01-01T00:00:00"


def example_row(spec: InputSpec, input_example: Mapping[str, Any] | None) -> list[Any] | None:
    """One row the model takes: the first of the input example without a missing value (as
    JSON: ``{"columns", "data"}`` or ``{"inputs"}``), else a placeholder value per column;
    None for an array of unknown width with no example."""
    rows: Sequence[Any] = ()
    if input_example is not None:
        rows = input_example.get("data") or input_example.get("inputs") or ()
    complete = [row for row in rows if isinstance(row, list) and not _has_missing(row)]
    if complete:
        return list(complete[0])
    if spec.columns is not None:
        return [_placeholder(column) for column in spec.columns]
    width = spec.tensor.width if spec.tensor is not None else None
    if width is None or spec.tensor is None:
        return None
    return [_PLACEHOLDERS.get(spec.tensor.datatype, 0)] * width


def invocations_body(spec: InputSpec, row: list[Any]) -> dict[str, Any]:
    """MLflow's scoring body for one row: ``dataframe_split`` for a table model, ``inputs``
    for an array model."""
    if spec.columns is not None:
        return {"dataframe_split": {"columns": spec.column_names, "data": [row]}}
    return {"inputs": [row]}


def oip_body(spec: InputSpec, row: list[Any]) -> dict[str, Any]:
    """The Open Inference Protocol body for one row: a 1-D tensor per column of a table
    model, one ``[1, width]`` tensor named ``inputs`` for an array model."""
    if spec.columns is not None:
        tensors = [
            {"name": column.name, "shape": [1], "datatype": column.datatype, "data": [value]}
            for column, value in zip(spec.columns, row, strict=True)
        ]
    else:
        datatype = spec.tensor.datatype if spec.tensor is not None else "FP64"
        tensors = [
            {"name": TENSOR_INPUT, "shape": [1, len(row)], "datatype": datatype, "data": row}
        ]
    return {"inputs": tensors}


def example_requests(
    spec: InputSpec, input_example: Mapping[str, Any] | None, *, url: str, name: str
) -> list[str]:
    """``curl`` command lines for ``/invocations`` and ``/v2/models/NAME/infer`` that fit
    ``spec`` (none when no row can be made up)."""
    row = example_row(spec, input_example)
    if row is None:
        return []
    return [
        _curl(f"{url}/invocations", invocations_body(spec, row)),
        _curl(f"{url}/v2/models/{name}/infer", oip_body(spec, row)),
    ]


def _curl(url: str, body: dict[str, Any]) -> str:
    text = json.dumps(body, separators=(", ", ": "), allow_nan=False)
    return f"curl -s {url} -H 'Content-Type: application/json' -d {_shell_quoted(text)}"


def _shell_quoted(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def _has_missing(row: list[Any]) -> bool:
    return any(value is None or (isinstance(value, float) and value != value) for value in row)


def _placeholder(column: ColumnSpec) -> Any:
    if column.type_name == "datetime":
        return _DATETIME
    if column.is_numeric:
        return 0
    return _PLACEHOLDERS.get(column.datatype, "text")
