"""What a served model takes, compiled once from its signature (``loopml.models.signature``)
so that checking a request costs as little as possible: named, typed columns, or one tensor
of a dtype (numbers, booleans, or strings: ``str``) and a shape.

Whether a missing value (null, NaN, an empty CSV cell) may reach the model is the signature's
``missing`` flag of each column (of the tensor), found at registration by asking the model;
a signature without the flags (written by an older loopml, or by hand) falls back to what
the server knows of the model (``allow_missing``).

A version registered without an input example has no signature; it is served as a model that
takes rows of numbers (a float64 tensor of any width).

>>> spec = input_spec({"inputs": {"kind": "tensor", "dtype": "float64", "shape": [-1, 30]}})
>>> spec.tensor.shape, spec.tensor.datatype
((-1, 30), 'FP64')
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from loopml.core.errors import InvalidInputError
from loopml.models.signature import TEXT_DTYPE

__all__ = [
    "PREDICTIONS",
    "TENSOR_INPUT",
    "ColumnSpec",
    "InputSpec",
    "TensorSpec",
    "input_spec",
    "oip_datatype",
    "output_metadata",
]

PREDICTIONS = "predictions"  # the one output tensor (and the MLflow response key)
TENSOR_INPUT = "inputs"  # the one input tensor of an array model (Open Inference Protocol)

# signature column type → (arrow type name, JSON value types accepted, what to call it)
_COLUMN_TYPES: dict[str, tuple[str, tuple[type, ...], str]] = {
    "double": ("float64", (int, float), "a number"),
    "float": ("float32", (int, float), "a number"),
    "long": ("int64", (int, float), "a whole number"),
    "integer": ("int32", (int, float), "a whole number"),
    "boolean": ("bool", (bool,), "true or false"),
    "string": ("string", (str,), "a string"),
    "binary": ("binary", (str,), "a hex string"),
    "datetime": ("timestamp", (str,), "an ISO 8601 date-time string"),
}
_COLUMN_DATATYPES = {
    "double": "FP64",
    "float": "FP32",
    "long": "INT64",
    "integer": "INT32",
    "boolean": "BOOL",
    "string": "BYTES",
    "binary": "BYTES",
    "datetime": "BYTES",
}
_NUMPY_DATATYPES = {
    "bool": "BOOL",
    "uint8": "UINT8",
    "uint16": "UINT16",
    "uint32": "UINT32",
    "uint64": "UINT64",
    "int8": "INT8",
    "int16": "INT16",
    "int32": "INT32",
    "int64": "INT64",
    "float16": "FP16",
    "float32": "FP32",
    "float64": "FP64",
}


@dataclass(frozen=True)
class ColumnSpec:
    """One named input column: its signature type and what a JSON value for it may be."""

    name: str
    type_name: str  # the signature's type: double, long, string, …
    arrow_type: Any  # a pyarrow DataType
    python_types: tuple[type, ...]
    described: str
    allow_missing: bool = False  # may a value be null?

    @property
    def datatype(self) -> str:
        """The Open Inference Protocol datatype of the column (FP64, INT64, BYTES, …)."""
        return _COLUMN_DATATYPES[self.type_name]

    @property
    def is_numeric(self) -> bool:
        return self.type_name in ("double", "float", "long", "integer")

    @property
    def is_integer(self) -> bool:
        return self.type_name in ("long", "integer")


@dataclass(frozen=True)
class TensorSpec:
    """One array: its numpy dtype (``object`` for strings) and shape (``-1`` where any size
    goes; the first dimension is the batch)."""

    dtype: Any  # a numpy dtype
    shape: tuple[int, ...]

    @property
    def is_text(self) -> bool:
        return bool(self.dtype.kind == "O")

    @property
    def datatype(self) -> str:
        return oip_datatype(self.dtype)

    @property
    def width(self) -> int | None:
        """Values per row for a 2-D tensor with a fixed width, else None."""
        return self.shape[1] if len(self.shape) == 2 and self.shape[1] >= 0 else None


@dataclass(frozen=True)
class InputSpec:
    """What the model takes: ``columns`` (tables) or ``tensor`` (arrays), never both, and
    whether missing values (null / NaN) may reach it."""

    columns: tuple[ColumnSpec, ...] | None = None
    tensor: TensorSpec | None = None
    allow_missing: bool = False

    @property
    def column_names(self) -> list[str]:
        return [column.name for column in self.columns or ()]


def input_spec(signature: Mapping[str, Any] | None, *, allow_missing: bool = False) -> InputSpec:
    """Compile a version's signature (None: rows of numbers of any width)."""
    import numpy as np

    inputs = (signature or {}).get("inputs")
    if not inputs:
        return InputSpec(tensor=TensorSpec(np.dtype("float64"), (-1, -1)), allow_missing=False)
    if inputs.get("kind") == "columns":
        columns = tuple(_column(column, allow_missing) for column in inputs.get("columns", []))
        return InputSpec(
            columns=columns, allow_missing=any(column.allow_missing for column in columns)
        )
    if inputs.get("kind") == "tensor":
        text = str(inputs.get("dtype", "float64"))
        try:
            dtype = np.dtype(object if text == TEXT_DTYPE else text)
        except TypeError as exc:
            raise InvalidInputError(
                f"The signature's tensor dtype {inputs.get('dtype')!r} is not a numpy dtype."
            ) from exc
        shape = tuple(int(size) for size in inputs.get("shape") or (-1,))
        takes = bool(inputs.get("missing", allow_missing))
        return InputSpec(tensor=TensorSpec(dtype, shape), allow_missing=takes)
    raise InvalidInputError(
        f"The signature's inputs are of kind {inputs.get('kind')!r}; the server serves "
        "'columns' and 'tensor' inputs."
    )


def _column(column: Mapping[str, Any], allow_missing: bool) -> ColumnSpec:
    import pyarrow as pa

    kind = str(column.get("type"))
    if kind not in _COLUMN_TYPES:
        raise InvalidInputError(
            f"The signature's column {column.get('name')!r} has type {kind!r}; the server "
            f"serves: {', '.join(_COLUMN_TYPES)}."
        )
    arrow_name, python_types, described = _COLUMN_TYPES[kind]
    arrow_type = pa.timestamp("us") if arrow_name == "timestamp" else pa.type_for_alias(arrow_name)
    takes = bool(column.get("missing", allow_missing))
    return ColumnSpec(str(column["name"]), kind, arrow_type, python_types, described, takes)


def oip_datatype(dtype: Any) -> str:
    """The Open Inference Protocol datatype of a numpy dtype (strings and objects: BYTES)."""
    return _NUMPY_DATATYPES.get(str(dtype), "BYTES")


def output_metadata(signature: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """The ``outputs`` of the model metadata: the one ``predictions`` tensor, with the
    datatype and shape the signature recorded (unknown: BYTES of any shape)."""
    outputs = (signature or {}).get("outputs") or {}
    if outputs.get("kind") == "tensor":
        import numpy as np

        dtype = str(outputs.get("dtype", "object"))
        datatype = oip_datatype(np.dtype(object if dtype == TEXT_DTYPE else dtype))
        shape = [int(size) for size in outputs.get("shape") or (-1,)]
    else:
        datatype, shape = "BYTES", [-1]
    return [{"name": PREDICTIONS, "datatype": datatype, "shape": shape}]
