"""Tables as a model takes them: a signature says whether a model wants named columns (a
pandas DataFrame) or an array (a numpy array of one dtype, the feature columns in order).

Gates, batch scoring and the model server turn Arrow tables into model inputs here, and
nowhere else — so a missing value (null) reaches a model in the same form from every one of
them, and is refused by all of them where the signature says the model takes none.

>>> to_model_input({"inputs": {"kind": "tensor", "dtype": "float64", "shape": [-1, 2]}},
...                pa.table({"a": [1, 2], "b": [3, 4], "y": [0, 1]}), exclude=("y",))
array([[1., 3.],
       [2., 4.]])
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from loopml.core.errors import InvalidInputError
from loopml.models.signature import TEXT_DTYPE

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["example_input", "feature_columns", "to_model_input"]

# a signature's column type → the Arrow type its stored JSON values are read back as
_ARROW_TYPES = {
    "double": "float64",
    "float": "float32",
    "long": "int64",
    "integer": "int32",
    "boolean": "bool",
    "string": "string",
    "binary": "binary",
}


def feature_columns(
    signature: Mapping[str, Any] | None,
    table: pa.Table,
    *,
    features: Sequence[str] | None = None,
    exclude: Collection[str] = (),
) -> list[str]:
    """The columns of ``table`` the model takes, in order: the signature's column names, or
    (array models) ``features``, else every numeric column not in ``exclude``."""
    import pyarrow as pa

    inputs = _inputs(signature)
    if inputs.get("kind") == "columns":
        return [column["name"] for column in inputs.get("columns", [])]
    if features is not None:
        return list(features)
    return [
        field.name
        for field in table.schema
        if field.name not in exclude
        and (pa.types.is_integer(field.type) or pa.types.is_floating(field.type))
    ]


def to_model_input(
    signature: Mapping[str, Any] | None,
    table: pa.Table,
    *,
    features: Sequence[str] | None = None,
    exclude: Collection[str] = (),
    source: str = "the data",
    first_row: int = 1,
) -> Any:
    """``table`` as the model takes it: a DataFrame of the signature's columns, or an array
    of the feature columns (see :func:`feature_columns`) in the signature's dtype.
    InvalidInputError names a missing column, a feature count the model does not take, or a
    missing value (by its row, counting from ``first_row``) where the model takes none."""
    import numpy as np

    inputs = _inputs(signature)
    names = feature_columns(signature, table, features=features, exclude=exclude)
    missing = [name for name in names if name not in table.column_names]
    if missing:
        raise InvalidInputError(
            f"{source} has no column {missing[0]!r}, which the model takes; its columns: "
            f"{', '.join(table.column_names)}."
        )
    if inputs.get("kind") == "columns":
        for column in inputs.get("columns", []):
            if column.get("missing") is False:
                _check_complete(table.column(column["name"]), column["name"], source, first_row)
        return table.select(names).to_pandas()
    shape = inputs.get("shape") or [-1, len(names)]
    if len(shape) != 2 or shape[1] not in (-1, len(names)):
        raise InvalidInputError(
            f"The model takes {shape[1:]} features per row but {source} gives {len(names)} "
            f"({', '.join(names)}); name the model's features."
        )
    if inputs.get("missing") is False:
        for name in names:
            _check_complete(table.column(name), name, source, first_row)
    columns = [_as_numpy(table.column(name)) for name in names]
    dtype = inputs.get("dtype", "float64")
    return np.column_stack(columns).astype(object if dtype == TEXT_DTYPE else dtype)


def _as_numpy(column: Any) -> Any:
    """A column (a ChunkedArray) as a numpy array: a numeric one without nulls through DLPack,
    since pyarrow's ``to_numpy`` imports pandas whenever it is installed (half a second of a
    command's start, for a model that takes an array)."""
    import numpy as np
    import pyarrow as pa

    kind = column.type
    if column.null_count == 0 and (pa.types.is_integer(kind) or pa.types.is_floating(kind)):
        if column.num_chunks == 0:  # an empty table: the caller casts to the model's dtype
            return np.empty(0)
        chunk = column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()
        return np.from_dlpack(chunk)
    return column.to_numpy(zero_copy_only=False)


def _check_complete(column: Any, name: str, source: str, first_row: int) -> None:
    """InvalidInputError naming the first null (or NaN) of ``column`` (a ChunkedArray)."""
    import pyarrow.compute as pc

    gaps = pc.is_null(column, nan_is_null=True) if column.null_count or _floats(column) else None
    if gaps is None or not pc.any(gaps).as_py():
        return
    row = first_row + pc.index(gaps, True).as_py()
    raise InvalidInputError(
        f"{source}: row {row}, column {name!r}: a missing value, but the model does not take "
        "missing values in this column (it failed to predict with one when it was registered); "
        "fill it in first."
    )


def _floats(column: Any) -> bool:
    import pyarrow as pa

    return bool(pa.types.is_floating(column.type))


def example_input(
    signature: Mapping[str, Any] | None, example: Mapping[str, Any], rows: int = 1
) -> Any:
    """The first ``rows`` of a stored input example (``input_example.json``) as the model
    takes them: datetimes and binary values read back from their JSON text, columns in the
    signature's types (an integer column with gaps stays one)."""
    import numpy as np
    import pyarrow as pa

    inputs = _inputs(signature)
    if "columns" not in example:
        dtype = inputs.get("dtype")
        return np.asarray(example["inputs"][:rows], dtype=object if dtype == TEXT_DTYPE else dtype)
    kinds = {c["name"]: c["type"] for c in inputs.get("columns", [])}
    names, data = example["columns"], example["data"][:rows]
    arrays = {}
    for position, name in enumerate(names):
        values = [row[position] for row in data]
        kind = kinds.get(name)
        if kind == "datetime":
            arrays[name] = pa.array([_datetime(v) for v in values], type=pa.timestamp("us"))
        elif kind == "binary":
            arrays[name] = pa.array([None if v is None else bytes.fromhex(v) for v in values])
        else:
            alias = _ARROW_TYPES.get(str(kind))
            arrays[name] = pa.array(values, type=pa.type_for_alias(alias) if alias else None)
    return to_model_input(signature, pa.table(arrays), source="The input example")


def _datetime(text: str | None) -> Any:
    from datetime import datetime

    return None if text is None else datetime.fromisoformat(text)


def _inputs(signature: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return (signature or {}).get("inputs") or {"kind": "tensor", "dtype": "float64"}
