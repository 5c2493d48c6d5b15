"""``POST /invocations`` with ``Content-Type: text/csv`` → checked rows.

- A table model (a signature with columns) reads a header line first, naming the columns in
  any order, then the rows.
- An array model reads rows of values only: ``1,2.5`` is one row, an empty body no rows. A
  header line is read only when the Content-Type says so with RFC 4180's parameter,
  ``text/csv; header=present`` (``header=absent`` is the default for an array model).
- An empty cell is a missing value in every column, text included (as ``loopml data`` reads
  CSV). It reaches the model only where the model takes missing values; elsewhere it is
  refused with 422 naming its row and column, exactly as a JSON ``null`` is.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from loopml.core.errors import InvalidInputError
from loopml.serving.columns import Where, check_complete
from loopml.serving.errors import InputMismatchError
from loopml.serving.payloads import check_row_count, empty_rows, match_columns
from loopml.serving.rows import Rows
from loopml.serving.signatures import InputSpec, TensorSpec
from loopml.serving.tensors import checked_array

__all__ = ["csv_rows"]

FIELD = "text/csv"
_HEADER_VALUES = {"present": True, "absent": False}


def csv_rows(body: bytes, spec: InputSpec, content_type: str, *, max_rows: int) -> Rows:
    """The rows of a CSV body, checked against ``spec`` (``content_type`` may carry the
    ``header`` parameter)."""
    header = _header_parameter(content_type)
    if not body.strip() and (spec.columns is not None or header):
        raise InvalidInputError(f"{FIELD}: the body is empty; start with the header line.")
    if spec.columns is not None:
        if header is False:
            raise InvalidInputError(
                f"{FIELD}: header=absent, but this model takes named columns "
                f"({', '.join(spec.column_names)}); start the body with a header line naming them."
            )
        return _table_rows(body, spec, max_rows=max_rows)
    assert spec.tensor is not None  # an InputSpec holds columns or a tensor
    return _array_rows(body, spec, spec.tensor, header=bool(header), max_rows=max_rows)


def _header_parameter(content_type: str) -> bool | None:
    """``header=present`` → True, ``header=absent`` → False, not given → None."""
    for parameter in content_type.split(";")[1:]:
        key, _, value = parameter.partition("=")
        if key.strip().lower() != "header":
            continue
        found = _HEADER_VALUES.get(value.strip().strip('"').lower())
        if found is None:
            raise InvalidInputError(
                f"Content-Type: header={value.strip()!r} is not one of present, absent."
            )
        return found
    return None


def _table_rows(body: bytes, spec: InputSpec, *, max_rows: int) -> Rows:
    assert spec.columns is not None
    header = _first_line(body, "the header line")
    match_columns(header, spec, f"{FIELD} header")
    types = {column.name: column.arrow_type for column in spec.columns}
    table = _read_csv(body, header, types, skip_rows=1)
    check_row_count(table.num_rows, max_rows, FIELD)
    for column in spec.columns:
        if not column.allow_missing:
            check_complete(table.column(column.name).combine_chunks(), column, _where(column.name))
    return Rows(table.select(spec.column_names))


def _array_rows(
    body: bytes, spec: InputSpec, tensor: TensorSpec, *, header: bool, max_rows: int
) -> Rows:
    import numpy as np
    import pyarrow as pa

    if not body.strip():
        return empty_rows(spec)  # no header, no rows
    first = _first_line(body, "the header line" if header else "the first row")
    width = tensor.width
    if width is not None and len(first) != width:
        what = "header" if header else "row 1"
        raise InputMismatchError(
            f"{FIELD} {what}: {len(first)} columns, but the model takes {width} values per row."
        )
    names = [f"c{i}" for i in range(len(first))]
    shown = [f"column {label!r}" for label in first] if header else []
    labels = dict(zip(names, shown or [f"value {i + 1}" for i in range(len(names))], strict=True))
    kind = pa.string() if tensor.is_text else pa.float64()
    hint = "" if header else " (if the first line is a header, send text/csv; header=present)"
    table = _read_csv(
        body, names, dict.fromkeys(names, kind), skip_rows=int(header), labels=labels, hint=hint
    )
    check_row_count(table.num_rows, max_rows, FIELD)
    if table.num_rows == 0:
        return empty_rows(spec)
    if tensor.is_text:
        columns = [np.array(table.column(n).to_pylist(), dtype=object) for n in names]
        array = np.column_stack(columns)
        if not spec.allow_missing:
            gaps = np.argwhere(array == None)  # noqa: E711 (elementwise, not identity)
            if len(gaps):
                row, position = (int(i) for i in gaps[0])
                raise InputMismatchError(
                    f"{_at(labels[names[position]])(row)}: a missing "
                    "value (an empty cell), but this model does not take missing values; "
                    "send a value."
                )
        return Rows(array)
    array = np.column_stack([table.column(n).to_numpy(zero_copy_only=False) for n in names])
    return Rows(checked_array(array, tensor, FIELD, allow_missing=spec.allow_missing))


def _first_line(body: bytes, what: str) -> list[str]:
    first = body.split(b"\n", 1)[0].rstrip(b"\r")
    try:
        text = first.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInputError(f"{FIELD}: {what} is not UTF-8 ({exc}).") from exc
    if not text.strip():
        raise InvalidInputError(f"{FIELD}: {what} is empty; the body starts with an empty line.")
    try:
        return next(csv.reader([text]))
    except csv.Error as exc:
        raise InvalidInputError(
            f"{FIELD}: {what} is not CSV ({exc}); separate values by commas, one line, ended "
            "by a newline."
        ) from exc


def _read_csv(
    body: bytes,
    names: list[str],
    types: dict[str, Any],
    *,
    skip_rows: int,
    labels: dict[str, str] | None = None,
    hint: str = "",
) -> Any:
    """The body as a table of ``types``; an empty cell is null in every column."""
    import pyarrow as pa
    import pyarrow.csv as pv

    read = pv.ReadOptions(column_names=names, skip_rows=skip_rows, use_threads=False)
    convert = pv.ConvertOptions(column_types=types, strings_can_be_null=True)
    try:
        return pv.read_csv(io.BytesIO(body), read_options=read, convert_options=convert)
    except pa.ArrowInvalid as exc:
        message = str(exc)
        if "conversion error" in message:
            _raise_bad_value(body, names, types, skip_rows, labels or {}, hint, exc)
        raise InvalidInputError(f"{FIELD}: {message}.") from exc


def _raise_bad_value(
    body: bytes,
    names: list[str],
    types: dict[str, Any],
    skip_rows: int,
    labels: dict[str, str],
    hint: str,
    exc: Exception,
) -> None:
    """Find the value pyarrow could not convert and name its row and column."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pv

    read = pv.ReadOptions(column_names=names, skip_rows=skip_rows, use_threads=False)
    as_text = pv.ConvertOptions(column_types=dict.fromkeys(names, pa.string()))
    table = pv.read_csv(io.BytesIO(body), read_options=read, convert_options=as_text)
    for name in names:
        for row, text in enumerate(table.column(name).to_pylist()):
            if text is None or text == "":
                continue
            try:
                pc.cast(pa.array([text]), types[name])
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                where = _at(labels.get(name, f"column {name!r}"))(row)
                raise InputMismatchError(
                    f"{where}: {text!r} is not a {types[name]} value{hint if row == 0 else ''}."
                ) from exc
    raise InputMismatchError(f"{FIELD}: {exc}.") from exc


def _where(name: str) -> Where:
    return _at(f"column {name!r}")


def _at(column: str) -> Where:
    return lambda row: f"{FIELD} row {row + 1} ({column})"
