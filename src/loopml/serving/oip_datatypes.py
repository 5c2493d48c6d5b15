"""The Open Inference Protocol's tensor datatypes, and the check that a tensor's data holds
values of the datatype it declares (``UINT8`` data is whole numbers from 0 to 255, ``INT64``
data has no 5.1, ``BYTES`` data is strings) — before the values are converted to what the
model takes. A ``null`` passes here: whether a missing value may reach the model is the
signature's business.

Numbers of one kind are checked with numpy in one pass; only data that is wrong, or that
numpy holds as Python objects, is walked value by value to name the first one at fault.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from loopml.core.errors import InvalidInputError
from loopml.serving.columns import describe_value

__all__ = ["DATATYPES", "NUMERIC", "check_declared"]

_INTEGERS = ("UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64")
_FLOATS = ("FP16", "FP32", "FP64")
DATATYPES = ("BOOL", *_INTEGERS, *_FLOATS, "BYTES")
NUMERIC = frozenset(_INTEGERS + _FLOATS)


def _limits(datatype: str) -> tuple[float, float]:
    import numpy as np

    dtype = np.dtype(datatype.lower().replace("fp", "float"))
    if dtype.kind in "iu":
        integers = np.iinfo(dtype)
        return int(integers.min), int(integers.max)
    floats = np.finfo(dtype)
    return float(floats.min), float(floats.max)


def _allowed(datatype: str) -> str:
    if datatype == "BOOL":
        return "true or false"
    if datatype == "BYTES":
        return "strings"
    low, high = _limits(datatype)
    if datatype in _INTEGERS:
        return f"whole numbers from {int(low)} to {int(high)}"
    return "numbers" if datatype == "FP64" else f"numbers from {low:.4g} to {high:.4g}"


def check_declared(array: Any, data: Any, datatype: str, field: str) -> None:
    """InvalidInputError (400) naming the first value of ``data`` (nested lists; ``array``
    is ``numpy.array(data)``) that is not of ``datatype``."""
    kind = array.dtype.kind
    if kind in "OUSV" or not _fits(array, datatype):
        for path, value in _leaves(data, field):
            if value is not None and not _value_fits(value, datatype):
                raise InvalidInputError(
                    f"{path}: {describe_value(value)} is not a {datatype} value; {datatype} "
                    f"data is {_allowed(datatype)}."
                )


def _fits(array: Any, datatype: str) -> bool:
    """Whether every value of a numpy array of numbers or booleans fits ``datatype``."""
    import numpy as np

    kind = array.dtype.kind
    if datatype == "BOOL" or kind == "b":
        return datatype == "BOOL" and kind == "b"
    if datatype == "BYTES":
        return False
    if not array.size or (datatype == "FP64" and kind in "iuf"):
        return True
    low, high = _limits(datatype)
    inside = bool(array.min().item() >= low and array.max().item() <= high)
    if datatype in _INTEGERS and kind == "f":
        return inside and bool(np.equal(np.floor(array), array).all())
    return inside


def _value_fits(value: Any, datatype: str) -> bool:
    if datatype == "BOOL":
        return type(value) is bool
    if datatype == "BYTES":
        return type(value) is str
    if type(value) not in (int, float):
        return False
    low, high = _limits(datatype)
    if datatype in _INTEGERS and (type(value) is float and not value.is_integer()):
        return False
    return bool(low <= value <= high)


def _leaves(data: Any, path: str) -> Iterator[tuple[str, Any]]:
    if isinstance(data, list):
        for index, item in enumerate(data):
            yield from _leaves(item, f"{path}[{index}]")
    else:
        yield path, data
