"""JSON lists → a numpy array of the model's dtype and shape, built straight from the lists
(no pandas), checked against the signature. A model that takes strings gets an array of
Python strings (numpy ``object``).

Numbers of one kind convert in C; only a body that is wrong gets walked in Python, to name the
first offending value (``inputs[3][7]: expected a number, got the string "abc"``) or the first
row of another length.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any

from loopml.serving.columns import describe_value
from loopml.serving.errors import InputMismatchError
from loopml.serving.oip_datatypes import check_declared
from loopml.serving.signatures import TensorSpec

__all__ = ["check_shape", "checked_array", "tensor_array"]

_NUMBER_KINDS = "iuf"


def tensor_array(
    data: Any,
    spec: TensorSpec,
    field: str,
    *,
    allow_missing: bool,
    shape: Sequence[int] | None = None,
    declared: str | None = None,
) -> Any:
    """``data`` (nested lists of numbers) as an array of ``spec.dtype`` whose shape the
    signature allows. ``shape`` and ``declared`` (the Open Inference Protocol's shape and
    datatype) reshape flat row-major data and say what its values must be. InputMismatchError
    names the field at fault."""
    import numpy as np

    if not isinstance(data, list):
        raise InputMismatchError(f"{field}: expected a list (of rows), got {describe_value(data)}.")
    if spec.is_text:
        if declared is not None:
            check_declared(np.array(data, dtype=object), data, declared, field)
        return _text_array(data, spec, field, allow_missing=allow_missing, shape=shape)
    try:
        array = np.array(data)
    except (ValueError, TypeError) as exc:
        raise InputMismatchError(_ragged(data, field) or f"{field}: {exc}.") from exc
    if declared is not None:
        check_declared(array, data, declared, field)
    wants_bool = spec.dtype.kind == "b"
    if array.dtype.kind == "O" or array.dtype.kind in "USV":
        array = _numbers_with_missing(data, field, allow_missing=allow_missing and not wants_bool)
    elif array.dtype.kind == "b" and not wants_bool:
        path, value = next(_leaves(data, field))
        raise InputMismatchError(f"{path}: expected a number, got {describe_value(value)}.")
    elif array.dtype.kind != "b" and wants_bool:
        path, value = next(_leaves(data, field))
        raise InputMismatchError(f"{path}: expected true or false, got {describe_value(value)}.")
    if shape is not None:
        array = _reshaped(array, shape, field)
    check_shape(array.shape, spec, field)
    return _cast(array, spec, field, allow_missing=allow_missing)


def check_shape(shape: Sequence[int], spec: TensorSpec, field: str) -> None:
    """InputMismatchError unless ``shape`` fits ``spec.shape`` (``-1`` matches any size)."""
    expected = spec.shape
    fits = len(shape) == len(expected) and all(
        want < 0 or want == got for want, got in zip(expected, shape, strict=True)
    )
    if not fits:
        hint = f" (rows of {spec.width} values each)" if spec.width is not None else ""
        raise InputMismatchError(
            f"{field}: expected shape {list(expected)}{hint}, got {list(shape)}."
        )


def checked_array(array: Any, spec: TensorSpec, field: str, *, allow_missing: bool) -> Any:
    """A numeric array (from CSV, say) checked for shape and missing values and cast to
    ``spec.dtype``."""
    check_shape(array.shape, spec, field)
    return _cast(array, spec, field, allow_missing=allow_missing)


def _numbers_with_missing(data: list[Any], field: str, *, allow_missing: bool) -> Any:
    """Data numpy could not make numbers of: name the first value that is not a number (or a
    null, when missing values are allowed), else convert with nulls as NaN."""
    import numpy as np

    for path, value in _leaves(data, field):
        if value is None:
            if not allow_missing:
                raise InputMismatchError(
                    f"{path}: a missing value (null), but this model does not take missing "
                    "values; send a number."
                )
        elif type(value) not in (int, float):
            raise InputMismatchError(f"{path}: expected a number, got {describe_value(value)}.")
    try:
        return np.array(data, dtype=np.float64)
    except (ValueError, TypeError) as exc:
        raise InputMismatchError(_ragged(data, field) or f"{field}: {exc}.") from exc


def _text_array(
    data: list[Any],
    spec: TensorSpec,
    field: str,
    *,
    allow_missing: bool,
    shape: Sequence[int] | None,
) -> Any:
    """Strings (and nulls, when missing values are allowed) as an array of objects."""
    import numpy as np

    for path, value in _leaves(data, field):
        if value is None:
            if not allow_missing:
                raise InputMismatchError(
                    f"{path}: a missing value (null), but this model does not take missing "
                    "values; send a string."
                )
        elif type(value) is not str:
            raise InputMismatchError(f"{path}: expected a string, got {describe_value(value)}.")
    ragged = _ragged(data, field)
    if ragged:
        raise InputMismatchError(ragged)
    array = np.array(data, dtype=object)
    if shape is not None:
        array = _reshaped(array, shape, field)
    check_shape(array.shape, spec, field)
    return array


def _reshaped(array: Any, shape: Sequence[int], field: str) -> Any:
    if any(size < 0 for size in shape):
        raise InputMismatchError(
            f"{field}: shape {list(shape)} has a negative size; give the actual sizes."
        )
    count = math.prod(shape)
    if array.size != count:
        raise InputMismatchError(
            f"{field}: {array.size} values, but shape {list(shape)} holds {count}."
        )
    return array.reshape(tuple(shape))


def _cast(array: Any, spec: TensorSpec, field: str, *, allow_missing: bool) -> Any:
    import numpy as np

    if array.dtype.kind == "f":
        finite = np.isfinite(array)
        if not allow_missing and not finite.all():
            index = tuple(int(i) for i in np.argwhere(~finite)[0])
            raise InputMismatchError(
                f"{_path(field, index)}: a missing value (null or NaN), but this model does not "
                "take missing values; send a number."
            )
        if spec.dtype.kind in "iu":
            whole = np.equal(np.floor(array), array) & finite
            if not whole.all():
                index = tuple(int(i) for i in np.argwhere(~whole)[0])
                raise InputMismatchError(
                    f"{_path(field, index)}: expected a whole number ({spec.dtype}), got "
                    f"{array[index]!r}."
                )
    if array.dtype.kind in _NUMBER_KINDS and spec.dtype.kind in "iu":
        info = np.iinfo(spec.dtype)
        if array.size and (array.min() < info.min or array.max() > info.max):
            index = tuple(int(i) for i in np.argwhere((array < info.min) | (array > info.max))[0])
            raise InputMismatchError(
                f"{_path(field, index)}: {array[index]} is out of range for {spec.dtype}."
            )
    return array.astype(spec.dtype, copy=False)


def _path(field: str, index: Sequence[int]) -> str:
    return field + "".join(f"[{i}]" for i in index)


def _leaves(data: Any, path: str) -> Iterator[tuple[str, Any]]:
    """Every non-list value in nested lists with its field path, in row-major order."""
    if isinstance(data, list):
        for index, item in enumerate(data):
            yield from _leaves(item, f"{path}[{index}]")
    else:
        yield path, data


def _ragged(data: Any, field: str) -> str | None:
    """The message for the first list whose length or nesting differs from its siblings'."""
    if not isinstance(data, list) or not data:
        return None
    first = data[0]
    for index, item in enumerate(data):
        if isinstance(item, list) != isinstance(first, list):
            return (
                f"{field}[{index}]: {describe_value(item)}, but {field}[0] is "
                f"{describe_value(first)}; every row must have the same shape."
            )
        if isinstance(item, list) and len(item) != len(first):
            return (
                f"{field}[{index}]: {len(item)} values, but {field}[0] has {len(first)}; "
                "every row must have the same length."
            )
    for index, item in enumerate(data):
        found = _ragged(item, f"{field}[{index}]")
        if found:
            return found
    return None
