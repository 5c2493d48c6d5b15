"""JSON values for one named column → a typed Arrow array, checked against the signature.

The common case costs a set of value types and one conversion in C; only when something is
wrong is the column scanned in Python, to name the first offending value::

    dataframe_split.data[7][3] (column 'mean_radius'): expected a number (double), got the
    string "abc".
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from loopml.serving.errors import InputMismatchError
from loopml.serving.signatures import ColumnSpec

__all__ = ["Where", "check_complete", "column_array", "describe_value"]

Where = Callable[[int], str]
"""The field path of the value at a row index, for messages (``inputs.age[4]``)."""

_NONE = type(None)
_INTEGER_RANGES = {"long": (-(2**63), 2**63 - 1), "integer": (-(2**31), 2**31 - 1)}


def column_array(values: list[Any], column: ColumnSpec, where: Where) -> Any:
    """``values`` as a ``pyarrow.Array`` of the column's type; InputMismatchError naming the
    first value of the wrong type, out of range, or missing (null) where the model takes no
    missing value in this column."""
    import pyarrow as pa

    kinds = set(map(type, values))
    has_missing = _NONE in kinds
    kinds.discard(_NONE)
    wrong = kinds.difference(column.python_types)
    if wrong:
        index = next(i for i, value in enumerate(values) if type(value) in wrong)
        raise _mismatch(where(index), column, values[index])
    if has_missing and not column.allow_missing:
        raise InputMismatchError(
            f"{where(values.index(None))}: a missing value (null), but this model does not "
            "take missing values; send a value."
        )
    if column.is_integer:
        values = _whole_numbers(values, column, where, has_floats=float in kinds)
    elif column.type_name == "binary":
        values = [_converted(v, bytes.fromhex, column, where, i) for i, v in enumerate(values)]
    elif column.type_name == "datetime":
        values = [_converted(v, _datetime, column, where, i) for i, v in enumerate(values)]
    try:
        return pa.array(values, type=column.arrow_type)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as exc:
        for index, value in enumerate(values):  # find the value pyarrow refused
            try:
                pa.array([value], type=column.arrow_type)
            except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
                raise InputMismatchError(
                    f"{where(index)}: {describe_value(value)} does not fit the column's type "
                    f"({column.type_name})."
                ) from exc
        raise InputMismatchError(f"{where(0)}: cannot convert the column: {exc}.") from exc


def _whole_numbers(
    values: list[Any], column: ColumnSpec, where: Where, *, has_floats: bool
) -> list[Any]:
    low, high = _INTEGER_RANGES[column.type_name]
    if has_floats:
        for index, value in enumerate(values):
            if type(value) is float and not value.is_integer():
                raise _mismatch(where(index), column, value)
        values = [int(v) if type(v) is float else v for v in values]
    present = [v for v in values if v is not None] if None in values else values
    if present and (min(present) < low or max(present) > high):
        index = next(i for i, v in enumerate(values) if v is not None and not low <= v <= high)
        raise InputMismatchError(
            f"{where(index)}: {values[index]} is out of range for the column's type "
            f"({column.type_name}: {low} to {high})."
        )
    return values


def _converted(
    value: Any, convert: Callable[[str], Any], column: ColumnSpec, where: Where, index: int
) -> Any:
    if value is None:
        return None
    try:
        return convert(value)
    except ValueError as exc:
        raise _mismatch(where(index), column, value) from exc


def _datetime(text: str) -> datetime:
    return datetime.fromisoformat(text)


def check_complete(array: Any, column: ColumnSpec, where: Where) -> None:
    """InputMismatchError naming the first null or NaN in ``array`` (an Arrow array) of a
    column where the model takes no missing value."""
    import pyarrow.compute as pc

    if array.null_count:
        index = pc.index(pc.is_null(array), True).as_py()
        raise InputMismatchError(
            f"{where(index)}: a missing value, but this model does not take missing values; "
            "send a value."
        )
    if column.type_name in ("double", "float") and len(array):
        finite = pc.is_finite(array)
        if not pc.all(finite).as_py():
            index = pc.index(finite, False).as_py()
            raise InputMismatchError(
                f"{where(index)}: {array[index].as_py()} is not a finite number, but this model "
                "does not take NaN or infinity; send a number."
            )


def _mismatch(field: str, column: ColumnSpec, value: Any) -> InputMismatchError:
    return InputMismatchError(
        f"{field}: expected {column.described} ({column.type_name}), got {describe_value(value)}."
    )


def describe_value(value: Any) -> str:
    """A JSON value as a message shows it: its JSON kind and, when short, the value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"the string {shown!r}"
    if isinstance(value, list):
        return f"a list of {len(value)} values"
    if isinstance(value, dict):
        return "an object"
    return f"a {type(value).__name__}"
