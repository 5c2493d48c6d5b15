"""``POST /invocations`` bodies → checked rows: MLflow's four JSON formats and CSV.

::

    {"dataframe_split": {"columns": ["a", "b"], "data": [[1, 2.5], [3, 4.0]]}}
    {"dataframe_records": [{"a": 1, "b": 2.5}, {"a": 3, "b": 4.0}]}
    {"instances": [[1, 2.5], [3, 4.0]]}     # or records, or {"a": [1, 3], "b": [2.5, 4.0]}
    {"inputs": [[1, 2.5], [3, 4.0]]}        # the same forms as "instances"
    a,b\\n1,2.5\\n3,4.0                        # Content-Type: text/csv (see csv_body)

A body that is not JSON or CSV, or not one of these shapes, is refused with 400 / 415; one
that does not match the model's signature (columns, types, shape, missing values) with 422;
more rows than allowed with 413 — each message naming the field at fault.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from loopml.core.errors import InvalidInputError
from loopml.serving.columns import Where, column_array, describe_value
from loopml.serving.errors import (
    InputMismatchError,
    PayloadTooLargeError,
    UnsupportedMediaTypeError,
)
from loopml.serving.rows import Rows
from loopml.serving.signatures import InputSpec
from loopml.serving.tensors import tensor_array

__all__ = [
    "FORMATS",
    "check_row_count",
    "empty_rows",
    "load_json",
    "match_columns",
    "media_type",
    "parse_invocation",
]

FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")
JSON_MEDIA_TYPES = ("", "application/json", "text/json")
CSV_MEDIA_TYPE = "text/csv"
_LISTED_NAMES = 10


def media_type(content_type: str | None) -> str:
    """``application/json; charset=utf-8`` → ``application/json``."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def parse_invocation(
    body: bytes, content_type: str | None, spec: InputSpec, *, max_rows: int
) -> Rows:
    """The rows of an ``/invocations`` body, checked against ``spec``."""
    media = media_type(content_type)
    if media == CSV_MEDIA_TYPE:
        from loopml.serving.csv_body import csv_rows

        return csv_rows(body, spec, content_type or "", max_rows=max_rows)
    if media not in JSON_MEDIA_TYPES and not media.endswith("+json"):
        raise UnsupportedMediaTypeError(
            f"Content-Type {media!r} is not supported; send JSON (application/json) with one "
            f"of the keys {', '.join(FORMATS)}, or CSV (text/csv)."
        )
    document = load_json(body)
    if not isinstance(document, dict):
        raise InvalidInputError(
            f"The body must be a JSON object with one of the keys {', '.join(FORMATS)}; got "
            f"{describe_value(document)}."
        )
    unknown = [key for key in document if key not in FORMATS]
    if unknown:
        extra = " (model parameters are not supported)" if unknown[0] == "params" else ""
        raise InvalidInputError(
            f"{unknown[0]}: unknown key{extra}; the body holds exactly one of {', '.join(FORMATS)}."
        )
    if len(document) != 1:
        raise InvalidInputError(
            f"The body holds {' and '.join(document) or 'none of the keys'}; send exactly one "
            f"of {', '.join(FORMATS)}."
        )
    key, value = next(iter(document.items()))
    if key == "dataframe_split":
        return _split(value, spec, max_rows=max_rows)
    if key == "dataframe_records":
        return _records(value, spec, key, max_rows=max_rows)
    return _instances(value, spec, key, max_rows=max_rows)


def load_json(body: bytes) -> Any:
    """The parsed body; InvalidInputError (400) saying where it is malformed."""
    import orjson

    if not body.strip():
        raise InvalidInputError("The body is empty; send a JSON object.")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidInputError(f"The body is not valid JSON: {exc}.") from exc


def check_row_count(count: int, max_rows: int, field: str) -> None:
    if count > max_rows:
        raise PayloadTooLargeError(
            f"{field}: {count} rows, more than this server takes in one request ({max_rows}, "
            "set with --max-rows); send them in several requests."
        )


def empty_rows(spec: InputSpec) -> Rows:
    """No rows, in the form the model takes."""
    if spec.columns is not None:
        import pyarrow as pa

        return Rows(pa.table({c.name: pa.array([], type=c.arrow_type) for c in spec.columns}))
    import numpy as np

    assert spec.tensor is not None  # an InputSpec holds columns or a tensor
    shape = tuple(max(size, 0) for size in spec.tensor.shape)
    return Rows(np.empty((0, *shape[1:]), dtype=spec.tensor.dtype))


def match_columns(given: Any, spec: InputSpec, field: str) -> list[int]:
    """For each signature column, its position in ``given`` (a list of names);
    InputMismatchError naming a missing, unknown, misspelled or repeated column."""
    if not isinstance(given, list):
        raise InvalidInputError(
            f"{field}: expected a list of column names, got {describe_value(given)}."
        )
    wanted = spec.column_names
    positions: dict[str, int] = {}
    for index, name in enumerate(given):
        if not isinstance(name, str):
            raise InvalidInputError(
                f"{field}[{index}]: expected a column name, got {describe_value(name)}."
            )
        if name in positions:
            raise InputMismatchError(f"{field}[{index}]: column {name!r} is listed twice.")
        positions[name] = index
    missing = [name for name in wanted if name not in positions]
    known = set(wanted)
    for index, name in enumerate(given):
        if name in known:
            continue
        if index < len(wanted) and wanted[index] in missing:
            raise InputMismatchError(f"{field}[{index}]: expected {wanted[index]!r}, got {name!r}.")
        raise InputMismatchError(
            f"{field}[{index}]: unknown column {name!r}; the model takes {_names(wanted)}."
        )
    if missing:
        raise InputMismatchError(
            f"{field}: missing column {missing[0]!r}"
            + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")
            + f"; the model takes {_names(wanted)}."
        )
    return [positions[name] for name in wanted]


def _names(names: Sequence[str]) -> str:
    shown = ", ".join(repr(n) for n in names[:_LISTED_NAMES])
    return shown + (f", … ({len(names)} columns)" if len(names) > _LISTED_NAMES else "")


# -- the JSON formats -------------------------------------------------------------------------


def _split(value: Any, spec: InputSpec, *, max_rows: int) -> Rows:
    field = "dataframe_split"
    if not isinstance(value, dict):
        raise InvalidInputError(
            f"{field}: expected an object with 'columns' and 'data', got {describe_value(value)}."
        )
    unknown = [key for key in value if key not in ("columns", "data", "index")]
    if unknown:
        raise InvalidInputError(
            f"{field}.{unknown[0]}: unknown key; expected 'columns', 'data' (and 'index')."
        )
    data = value.get("data")
    if not isinstance(data, list):
        raise InvalidInputError(
            f"{field}.data: expected a list of rows, got {describe_value(data)}."
        )
    check_row_count(len(data), max_rows, f"{field}.data")
    index = value.get("index")
    if index is not None and not isinstance(index, list):
        raise InvalidInputError(
            f"{field}.index: expected a list (one label per row) or null, got "
            f"{describe_value(index)}."
        )
    columns = value.get("columns")
    if spec.columns is None:
        if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
            raise InvalidInputError(
                f"{field}.columns: expected a list of column names, got {describe_value(columns)}."
            )
        width = spec.tensor.width if spec.tensor is not None else None
        if width is not None and len(columns) != width:
            raise InputMismatchError(
                f"{field}.columns: {len(columns)} columns, but the model takes {width} values "
                "per row."
            )
        return _tensor(data, spec, f"{field}.data")
    if columns is None:
        raise InvalidInputError(
            f"{field}.columns: missing; list the column names ({_names(spec.column_names)})."
        )
    order = match_columns(columns, spec, f"{field}.columns")
    return _table_from_rows(data, spec, order, f"{field}.data")


def _records(value: Any, spec: InputSpec, field: str, *, max_rows: int) -> Rows:
    if not isinstance(value, list):
        raise InvalidInputError(
            f"{field}: expected a list of records, got {describe_value(value)}."
        )
    check_row_count(len(value), max_rows, field)
    if not value:
        return empty_rows(spec)
    if set(map(type, value)) != {dict}:
        index = next(i for i, record in enumerate(value) if not isinstance(record, dict))
        raise InvalidInputError(
            f"{field}[{index}]: expected a record (an object), got {describe_value(value[index])}."
        )
    if spec.columns is None:
        names = list(value[0])
        for index, record in enumerate(value):
            if list(record) != names:
                raise InputMismatchError(
                    f"{field}[{index}]: its keys differ from {field}[0]'s ({', '.join(names)})."
                )
        return _tensor([list(record.values()) for record in value], spec, field)
    wanted = spec.column_names
    keys = set(wanted)
    for index, record in enumerate(value):
        if record.keys() != keys:
            _record_mismatch(record, wanted, f"{field}[{index}]")
    arrays = [
        column_array(
            [record[column.name] for record in value],
            column,
            _record_field(field, column.name),
        )
        for column in spec.columns
    ]
    return _table(arrays, spec)


def _record_mismatch(record: dict[str, Any], wanted: list[str], field: str) -> None:
    for name in wanted:
        if name not in record:
            raise InputMismatchError(f"{field}: missing column {name!r}.")
    extra = next(name for name in record if name not in set(wanted))
    raise InputMismatchError(f"{field}.{extra}: unknown column; the model takes {_names(wanted)}.")


def _instances(value: Any, spec: InputSpec, field: str, *, max_rows: int) -> Rows:
    if isinstance(value, dict):
        return _columnar(value, spec, field, max_rows=max_rows)
    if not isinstance(value, list):
        raise InvalidInputError(
            f"{field}: expected a list of rows or records, or an object of columns; got "
            f"{describe_value(value)}."
        )
    check_row_count(len(value), max_rows, field)
    if value and isinstance(value[0], dict):
        return _records(value, spec, field, max_rows=max_rows)
    if spec.columns is None:
        return _tensor(value, spec, field)
    return _table_from_rows(value, spec, list(range(len(spec.columns))), field)


def _columnar(value: dict[str, Any], spec: InputSpec, field: str, *, max_rows: int) -> Rows:
    if spec.columns is None:
        if len(value) != 1:
            raise InvalidInputError(
                f"{field}: this model takes one tensor; send a list of rows, not an object of "
                f"{len(value)} named inputs."
            )
        name, data = next(iter(value.items()))
        if isinstance(data, list):
            check_row_count(len(data), max_rows, f"{field}.{name}")
        return _tensor(data, spec, f"{field}.{name}")
    order = match_columns(list(value), spec, field)
    names = list(value)
    lengths: dict[int, str] = {}
    for name in names:
        data = value[name]
        if not isinstance(data, list):
            raise InvalidInputError(
                f"{field}.{name}: expected a list of values, got {describe_value(data)}."
            )
        lengths.setdefault(len(data), name)
    if len(lengths) > 1:
        (first_len, first), (other_len, other) = list(lengths.items())[:2]
        raise InputMismatchError(
            f"{field}.{other}: {other_len} values, but {field}.{first} has {first_len}; every "
            "column must have the same length."
        )
    check_row_count(next(iter(lengths), 0), max_rows, field)
    arrays = [
        column_array(
            value[names[position]],
            column,
            _column_field(field, column.name),
        )
        for column, position in zip(spec.columns, order, strict=True)
    ]
    return _table(arrays, spec)


def _tensor(data: Any, spec: InputSpec, field: str) -> Rows:
    assert spec.tensor is not None  # callers handle column models
    if isinstance(data, list) and not data:
        return empty_rows(spec)
    return Rows(tensor_array(data, spec.tensor, field, allow_missing=spec.allow_missing))


def _table_from_rows(data: list[Any], spec: InputSpec, order: list[int], field: str) -> Rows:
    """Row-major lists (``order``: where each signature column sits in a row) → a table."""
    assert spec.columns is not None
    width = len(order)
    if not data:
        return empty_rows(spec)
    if set(map(type, data)) != {list}:
        index = next(i for i, row in enumerate(data) if not isinstance(row, list))
        raise InvalidInputError(
            f"{field}[{index}]: expected a row (a list of {width} values), got "
            f"{describe_value(data[index])}."
        )
    if set(map(len, data)) != {width}:
        index = next(i for i, row in enumerate(data) if len(row) != width)
        raise InputMismatchError(
            f"{field}[{index}]: {len(data[index])} values, but there are {width} columns."
        )
    by_column = list(zip(*data, strict=True))
    arrays = [
        column_array(
            list(by_column[position]),
            column,
            _cell_field(field, position, column.name),
        )
        for column, position in zip(spec.columns, order, strict=True)
    ]
    return _table(arrays, spec)


def _table(arrays: list[Any], spec: InputSpec) -> Rows:
    import pyarrow as pa

    return Rows(pa.Table.from_arrays(arrays, names=spec.column_names))


def _cell_field(field: str, position: int, name: str) -> Where:
    return lambda row: f"{field}[{row}][{position}] (column {name!r})"


def _record_field(field: str, name: str) -> Where:
    return lambda row: f"{field}[{row}].{name}"


def _column_field(field: str, name: str) -> Where:
    return lambda row: f"{field}.{name}[{row}]"
