"""Arrow columns → what the drift statistics take: sorted numbers or category counts, with
missing values counted (null, and NaN in float columns), and counts on shared bins.

Datetimes become epoch seconds (as in the stored profiles), decimals floats. Pure computation.
"""

from __future__ import annotations

import enum
import itertools
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from loopml.data.drift import OTHER
from loopml.data.profiling import HISTOGRAM_BINS

__all__ = [
    "Bins",
    "ColumnKind",
    "Numbers",
    "category_bins",
    "category_counts",
    "few_values",
    "for_plot",
    "is_text",
    "kind_of",
    "number_bins",
    "number_counts",
    "numbers",
    "reference_edges",
]

Floats = npt.NDArray[np.float64]
PLOT_CATEGORIES = 20
"""Categories shown one by one in a plot; the rest are summed as "(other)"."""
_SECONDS = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}


class ColumnKind(enum.StrEnum):
    NUMERIC = "numeric"
    DATETIME = "datetime"
    CATEGORICAL = "categorical"
    TEXT = "text"  # strings with many distinct values (names, ids, comments): not tested
    EMPTY = "empty"  # no type at all: every value missing
    UNSUPPORTED = "unsupported"  # lists, structs, binary


@dataclass(frozen=True)
class Numbers:
    """A numeric column's present values, sorted, and how many were missing."""

    values: Floats
    missing: int


@dataclass(frozen=True)
class Bins:
    """Counts of both sides on the same bins (for PSI, Jensen–Shannon and the plots)."""

    labels: tuple[str, ...]
    reference: tuple[float, ...]
    current: tuple[float, ...]
    edges: tuple[float, ...] | None = None  # numbers: the reference's edges

    def to_dict(self) -> dict[str, object]:
        found: dict[str, object] = {
            "labels": list(self.labels),
            "reference": list(self.reference),
            "current": list(self.current),
        }
        if self.edges is not None:
            found["edges"] = list(self.edges)
        return found


def kind_of(kind: pa.DataType) -> ColumnKind:
    """How a column of Arrow type ``kind`` is compared."""
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    if pa.types.is_null(kind):
        return ColumnKind.EMPTY
    if pa.types.is_boolean(kind) or pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return ColumnKind.CATEGORICAL
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        return ColumnKind.NUMERIC
    if pa.types.is_timestamp(kind) or pa.types.is_date(kind):
        return ColumnKind.DATETIME
    return ColumnKind.UNSUPPORTED


def numbers(column: pa.ChunkedArray | pa.Array) -> Numbers:
    """The present values of a numeric or datetime column as sorted float64."""
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    parts: list[Floats] = []
    missing = 0
    for chunk in chunks:
        if pa.types.is_dictionary(chunk.type):
            chunk = chunk.dictionary_decode()
        missing += chunk.null_count
        chunk = chunk.drop_null() if chunk.null_count else chunk
        values = _as_floats(chunk)
        if values.dtype.kind == "f":
            present = ~np.isnan(values)
            if not present.all():
                missing += int(len(values) - present.sum())
                values = values[present]
        parts.append(values)
    joined = np.concatenate(parts) if parts else np.empty(0)
    joined.sort()
    return Numbers(joined, missing)


def _as_floats(chunk: pa.Array) -> Floats:
    kind = chunk.type
    if pa.types.is_null(kind):
        return np.empty(0)
    if pa.types.is_date(kind):
        chunk, kind = chunk.cast(pa.timestamp("s")), pa.timestamp("s")
    if pa.types.is_timestamp(kind):
        seconds: Floats = chunk.cast(pa.int64()).to_numpy().astype(np.float64)
        unit = _SECONDS[kind.unit]
        return seconds * unit if unit != 1.0 else seconds
    if pa.types.is_decimal(kind):
        chunk = chunk.cast(pa.float64())
    found: Floats = np.asarray(chunk.to_numpy(zero_copy_only=False), dtype=np.float64)
    return found


def category_counts(column: pa.ChunkedArray | pa.Array) -> tuple[dict[str, int], int]:
    """Count of every present value (as text; booleans 'true'/'false') and the missing count."""
    array = column
    if isinstance(array, pa.ChunkedArray) and pa.types.is_dictionary(array.type):
        array = pa.chunked_array([c.dictionary_decode() for c in array.chunks])
    elif isinstance(array, pa.Array) and pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    missing = array.null_count
    if pa.types.is_null(array.type) or missing == len(array):
        return {}, missing
    counted = pc.value_counts(array.drop_null())
    values = counted.field("values").to_pylist()
    counts = counted.field("counts").to_pylist()
    return {_label(v): int(c) for v, c in zip(values, counts, strict=True)}, missing


def is_text(counts: Mapping[str, int], present: int) -> bool:
    """Strings with too many distinct values to compare as categories: more than
    ``max(20, 5% of the present values)`` (the rule the data profile uses)."""
    return len(counts) > max(20, 0.05 * present)


def _label(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def few_values(values: Floats, limit: int) -> bool:
    """True if a sorted array holds at most ``limit`` distinct values (``limit`` binary
    searches, whatever its length)."""
    position = 0
    for _ in range(limit):
        if position >= len(values):
            return True
        position = int(np.searchsorted(values, values[position], side="right"))
    return position >= len(values)


def number_counts(values: Floats) -> dict[str, int]:
    """Counts of each distinct number (a numeric column with few values, compared as one
    with categories)."""
    distinct, counts = np.unique(values, return_counts=True)
    return {_label(float(v)): int(c) for v, c in zip(distinct, counts, strict=True)}


def reference_edges(values: Floats, stored: list[float] | None = None) -> tuple[float, ...]:
    """The reference's histogram edges: the stored profile's when given, else the same rule
    as the profile (``HISTOGRAM_BINS`` equal bins from the smallest to the largest value)."""
    if stored is not None and len(stored) >= 2:
        return tuple(float(e) for e in stored)
    low, high = float(values[0]), float(values[-1])
    if low == high:
        return (low, high)
    return tuple(float(e) for e in np.linspace(low, high, HISTOGRAM_BINS + 1))


def number_bins(reference: Floats, current: Floats, edges: tuple[float, ...]) -> Bins:
    """Counts of two sorted samples on ``edges``; the outer bins are open, so every value
    counts; bins are ``[a, b)``. A single edge pair ``(v, v)`` gives below / at / above v."""
    if len(edges) == 2 and edges[0] == edges[1]:
        v = edges[0]
        around = (f"< {v:.4g}", f"= {v:.4g}", f"> {v:.4g}")
        return Bins(around, _around(reference, v), _around(current, v), edges)
    cuts = np.asarray(edges[1:-1], dtype=np.float64)
    labels = tuple(f"{a:.4g} – {b:.4g}" for a, b in itertools.pairwise(edges))
    return Bins(labels, _counts(reference, cuts), _counts(current, cuts), edges)


def _counts(values: Floats, cuts: Floats) -> tuple[float, ...]:
    at = np.searchsorted(values, cuts, side="left")
    return tuple(float(c) for c in np.diff(np.concatenate(([0], at, [len(values)]))))


def _around(values: Floats, v: float) -> tuple[float, ...]:
    low = int(np.searchsorted(values, v, side="left"))
    high = int(np.searchsorted(values, v, side="right"))
    return (float(low), float(high - low), float(len(values) - high))


def category_bins(reference: Mapping[str, int], current: Mapping[str, int]) -> Bins:
    """Every category of either side, the reference's most frequent first."""
    labels = sorted(
        {*reference, *current}, key=lambda v: (-reference.get(v, 0), -current.get(v, 0), v)
    )
    return Bins(
        tuple(labels),
        tuple(float(reference.get(v, 0)) for v in labels),
        tuple(float(current.get(v, 0)) for v in labels),
    )


def for_plot(bins: Bins) -> Bins:
    """At most ``PLOT_CATEGORIES`` categories, the rest summed as "(other)"."""
    if bins.edges is not None or len(bins.labels) <= PLOT_CATEGORIES:
        return bins
    keep = PLOT_CATEGORIES - 1
    return Bins(
        (*bins.labels[:keep], OTHER),
        (*bins.reference[:keep], sum(bins.reference[keep:])),
        (*bins.current[:keep], sum(bins.current[keep:])),
    )
