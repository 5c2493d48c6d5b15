"""Model signatures: what a model takes and returns, inferred from an input example and
checked against it.

A signature is plain JSON, stored with the model version::

    {"inputs":  {"kind": "columns", "columns": [{"name": "age", "type": "long"}, ...]},
     "outputs": {"kind": "tensor", "dtype": "int64", "shape": [-1]}}

Tabular inputs (pandas / polars DataFrames, pyarrow Tables, a dict of columns, a list of
records) are ``columns`` with types ``double``, ``float``, ``long``, ``integer``, ``boolean``,
``string``, ``binary`` or ``datetime``; numpy arrays are ``tensor`` with a dtype and a shape
whose first dimension (the batch) is ``-1`` — ``str`` for an array of strings (text
features, or a classifier's string labels among the outputs).

At registration, a ``missing`` flag per column (per tensor) records whether the model
predicts when that input is missing (``loopml.models.missing_values``); the model server,
batch scoring and gates refuse a missing value where it is ``false``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from loopml.core.errors import InvalidInputError

__all__ = [
    "TEXT_DTYPE",
    "check_example",
    "example_table",
    "example_to_json",
    "infer_signature",
    "spec_of",
]

_ARROW_NAMES = {
    "double": "double",
    "float": "float",
    "halffloat": "float",
    "int64": "long",
    "uint64": "long",
    "int32": "integer",
    "uint32": "integer",
    "int16": "integer",
    "uint16": "integer",
    "int8": "integer",
    "uint8": "integer",
    "bool": "boolean",
    "string": "string",
    "large_string": "string",
    "binary": "binary",
    "large_binary": "binary",
}


def example_table(example: Any) -> Any:
    """A pyarrow Table for a tabular example, or None for anything else."""
    import pyarrow as pa

    module = type(example).__module__.split(".")[0]
    if isinstance(example, pa.Table):
        return example
    if module == "pandas" and type(example).__name__ == "DataFrame":
        return pa.Table.from_pandas(example, preserve_index=False)
    if module == "polars" and type(example).__name__ == "DataFrame":
        return example.to_arrow()
    if isinstance(example, Mapping):
        return pa.table({str(k): list(v) for k, v in example.items()})
    if isinstance(example, list) and example and all(isinstance(r, Mapping) for r in example):
        return pa.Table.from_pylist(example)
    return None


def _column_type(arrow_type: Any) -> str:
    import pyarrow as pa

    if pa.types.is_timestamp(arrow_type) or pa.types.is_date(arrow_type):
        return "datetime"
    name = _ARROW_NAMES.get(str(arrow_type))
    if name is None:
        raise InvalidInputError(
            f"A column of type {arrow_type} cannot be part of a signature; allowed: numbers, "
            "booleans, strings, binary and datetimes."
        )
    return name


def spec_of(value: Any, *, what: str = "The input example") -> dict[str, Any]:
    """The signature entry for ``value``: columns for tables, a tensor for arrays (``str``
    for an array of strings). ``what`` names the value in the error for an array of mixed
    objects, which has no one type."""
    import numpy as np

    table = example_table(value)
    if table is not None:
        columns = [{"name": field.name, "type": _column_type(field.type)} for field in table.schema]
        return {"kind": "columns", "columns": columns}
    array = np.asarray(value)
    dtype = str(array.dtype)
    if array.dtype.kind in "OUS":
        if not _all_strings(array):
            kinds = sorted({type(v).__name__ for v in array.ravel().tolist()})
            raise InvalidInputError(
                f"{what}: a numpy array of mixed values ({', '.join(kinds)}), which has no "
                "one type; pass a DataFrame, a pyarrow Table or a dict of columns (each column "
                "of one type), or an array of numbers or of strings."
            )
        dtype = TEXT_DTYPE
    return {"kind": "tensor", "dtype": dtype, "shape": [-1, *array.shape[1:]]}


TEXT_DTYPE = "str"  # a tensor of strings, whatever their length


def _all_strings(array: Any) -> bool:
    return array.dtype.kind == "U" or all(isinstance(v, str) for v in array.ravel().tolist())


def infer_signature(example: Any, predictions: Any | None = None) -> dict[str, Any]:
    """The signature of a model that takes ``example`` (and returned ``predictions`` for it).

    >>> infer_signature(pd.DataFrame({"a": [1.0]}), np.array(["yes"]))["outputs"]
    {'kind': 'tensor', 'dtype': 'str', 'shape': [-1]}
    """
    signature = {"inputs": spec_of(example)}
    if predictions is not None:
        signature["outputs"] = spec_of(predictions, what="The model's predictions")
    return signature


def check_example(signature: Mapping[str, Any], example: Any) -> None:
    """Raise InvalidInputError naming the first difference between ``example`` and the
    signature's inputs (a missing, extra or retyped column; another dtype or shape)."""
    expected = signature.get("inputs")
    if not isinstance(expected, Mapping):
        raise InvalidInputError("The signature has no 'inputs' object.")
    actual = spec_of(example)
    if expected.get("kind") != actual["kind"]:
        raise InvalidInputError(
            f"The signature expects {expected.get('kind')} but the example is {actual['kind']}."
        )
    if actual["kind"] == "tensor":
        for key in ("dtype", "shape"):
            if expected.get(key) != actual[key]:
                raise InvalidInputError(
                    f"The signature's input {key} is {expected.get(key)}, the example's is "
                    f"{actual[key]}."
                )
        return
    wanted = {c["name"]: c["type"] for c in expected.get("columns", [])}
    given = {c["name"]: c["type"] for c in actual["columns"]}
    for name, kind in wanted.items():
        if name not in given:
            raise InvalidInputError(f"The example has no column {name!r} (signature: {kind}).")
        if given[name] != kind:
            raise InvalidInputError(
                f"Column {name!r} is {given[name]} in the example but {kind} in the signature."
            )
    extra = sorted(set(given) - set(wanted))
    if extra:
        raise InvalidInputError(
            f"The example has column {extra[0]!r}, which the signature does not list."
        )


def example_to_json(example: Any) -> dict[str, Any]:
    """The example as JSON: ``{"columns": [...], "data": [[...], ...]}`` for tables (MLflow's
    ``dataframe_split``), ``{"inputs": [...]}`` for tensors."""
    import numpy as np

    table = example_table(example)
    if table is not None:
        rows = table.to_pylist()
        columns = table.column_names
        data = [[_plain(row[name]) for name in columns] for row in rows]
        return {"columns": columns, "data": data}
    return {"inputs": np.asarray(example).tolist()}


def _plain(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    return value
