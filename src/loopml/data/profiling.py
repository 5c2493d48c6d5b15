"""Profile a table in one streaming pass over its record batches (pure computation, no I/O).

Every column has a mergeable accumulator, updated with vectorised pyarrow/numpy work per batch:

- count, missing (null; NaN counts as missing in float columns), min/max, mean and sample
  std (ddof=1; batch moments merged with Chan et al.'s parallel formula) — exact.
- distinct: a KMV (k-minimum-values) sketch of 64-bit value hashes with k = 100,000. With at
  most k distinct values it holds them all and the count is exact (``distinct_is_exact``);
  above, the estimate (k-1)/h_k has a relative standard error of 1/sqrt(k-2) ≈ 0.32%.
- quantiles (0.01 … 0.99) and the 20-bin histogram: a bottom-k uniform sample of 32,768
  values per column (random keys, so merging batches is taking the k smallest keys). Up to
  32,768 non-missing values both are exact. Above, a quantile's rank error has standard
  deviation sqrt(q(1-q)/k) ≤ 0.0028 (< 0.01 with > 99.9% probability), and a histogram
  bin holding a share p of the rows has relative error sqrt((1-p)/(p·k)) (≈ 2.4% at p=5%);
  counts are scaled to sum exactly to the non-missing count; edges span the exact min and
  max. Exact counts would need a second pass over the file, measured on 1,000,000 rows x 25
  columns at 0.2 s more for Parquet and 2.3 s more for CSV (the whole profile: 1.1 s and
  2.5 s), so the sample is used instead.
- top categories (strings, booleans): Misra–Gries summary with 10,000 counters; exact while a
  column has at most 10,000 distinct values, otherwise each count is low by at most
  n/10,001.

Datetime columns report min/max as ISO text and mean/std/quantiles/histogram edges in epoch
seconds. String min/max are lexicographic (by code point).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Protocol

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from loopml.core.errors import InvalidInputError
from loopml.data.profiles import (
    CategoryCount,
    ColumnProfile,
    Histogram,
    LogicalType,
    TableProfile,
)
from loopml.data.sketches import (
    DISTINCT_SKETCH_SIZE,
    SAMPLE_SIZE,
    TOP_COUNTERS,
    BottomKSample,
    DistinctSketch,
    Hashes,
    Moments,
    TopCounts,
    hash_strings,
    mix64,
)

__all__ = [
    "DISTINCT_SKETCH_SIZE",
    "HISTOGRAM_BINS",
    "QUANTILES",
    "SAMPLE_SIZE",
    "TOP_COUNTERS",
    "compute_profile",
]

TOP_CATEGORIES = 10
HISTOGRAM_BINS = 20
QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)

Floats = npt.NDArray[np.float64]


def compute_profile(
    batches: Iterable[pa.RecordBatch], *, source_format: str = "", seed: int = 0
) -> TableProfile:
    """Profile ``batches`` (one pass). ``seed`` fixes the sample, so results are reproducible.

    >>> compute_profile([pa.record_batch({"x": [1.0, 2.0]})]).column("x").mean
    1.5
    """
    schema: pa.Schema | None = None
    columns: list[_Accumulator] = []
    generators: list[np.random.Generator] = []
    rows = 0
    # numpy and Arrow release the GIL in their kernels, so columns are updated in parallel,
    # leaving a core to the read-ahead thread: parsing a CSV takes longer than profiling it
    # (measured on 2 cores, 1M rows x 25 columns: CSV 2.2 s instead of 2.5 s with a worker
    # per core; Parquet, read in 0.2 s, 1.1 s instead of 0.8 s).
    with ThreadPoolExecutor(max_workers=max(1, (os.cpu_count() or 1) - 1)) as pool:
        for number, batch in enumerate(_read_ahead(batches)):
            if schema is None:
                schema = batch.schema
                columns = [_accumulator_for(f) for f in schema]
                seeds = np.random.SeedSequence(seed).spawn(len(columns))
                generators = [np.random.default_rng(s) for s in seeds]
            elif not batch.schema.equals(schema):
                raise InvalidInputError(_schema_change(schema, batch.schema, number))
            rows += batch.num_rows
            updates = [
                pool.submit(column.update, array, rng)
                for column, array, rng in zip(columns, batch.columns, generators, strict=True)
            ]
            for update in updates:
                update.result()
    return TableProfile(
        rows=rows, columns=[c.result() for c in columns], source_format=source_format
    )


def _read_ahead(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """Fetch the next batch in a background thread while the current one is profiled."""
    iterator = iter(batches)
    with ThreadPoolExecutor(max_workers=1) as reader:
        pending = reader.submit(next, iterator, None)
        while (batch := pending.result()) is not None:
            pending = reader.submit(next, iterator, None)
            yield batch


def _schema_change(before: pa.Schema, after: pa.Schema, number: int) -> str:
    for old, new in zip(before, after, strict=False):
        if old.name != new.name or not old.type.equals(new.type):
            return (
                f"batch {number}: column '{new.name}' is {new.type} but earlier batches had "
                f"'{old.name}' as {old.type}; every batch must have the same schema"
            )
    return (
        f"batch {number}: has columns {after.names} but earlier batches had {before.names}; "
        "every batch must have the same schema"
    )


# ---------------------------------------------------------------- column accumulators


class _Accumulator(Protocol):
    def update(self, array: pa.Array, rng: np.random.Generator) -> None: ...

    def result(self) -> ColumnProfile: ...


def _accumulator_for(column: pa.Field) -> _Accumulator:
    kind = column.type
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    if pa.types.is_boolean(kind):
        return _BooleanColumn(column.name, str(column.type))
    if pa.types.is_integer(kind):
        return _NumberColumn(column.name, str(column.type), logical_type=LogicalType.INTEGER)
    if pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        return _NumberColumn(column.name, str(column.type), logical_type=LogicalType.NUMERIC)
    if pa.types.is_temporal(kind) and (pa.types.is_timestamp(kind) or pa.types.is_date(kind)):
        return _NumberColumn(column.name, str(column.type), logical_type=LogicalType.DATETIME)
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return _StringColumn(column.name, str(column.type))
    return _OtherColumn(column.name, str(column.type))


def _plain(array: pa.Array) -> pa.Array:
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    return array


@dataclass
class _ColumnBase:
    name: str
    physical_type: str
    count: int = 0
    missing: int = 0
    distinct: DistinctSketch = field(default_factory=DistinctSketch)


@dataclass
class _NumberColumn(_ColumnBase):
    logical_type: LogicalType = LogicalType.NUMERIC
    moments: Moments = field(default_factory=Moments)
    sample: BottomKSample = field(default_factory=BottomKSample)
    seconds_per_unit: float = 1.0
    low: pa.Scalar | None = None
    high: pa.Scalar | None = None

    def update(self, array: pa.Array, rng: np.random.Generator) -> None:
        array = _plain(array)
        rows = len(array)
        self.count += rows
        if array.null_count:
            array = array.drop_null()
        if self.logical_type is LogicalType.DATETIME:
            self._track_datetime_bounds(array)
            array = self._as_epoch_integers(array)
        elif pa.types.is_decimal(array.type):
            array = array.cast(pa.float64())
        values = array.to_numpy()
        if values.dtype.kind == "f":
            values = values.astype(np.float64, copy=False) + 0.0  # -0.0 -> 0.0 for hashing
            finite = ~np.isnan(values)
            if not finite.all():
                values = values[finite]
            raw: Hashes = values.view(np.uint64)
        else:
            raw = values.astype(np.int64, copy=False).view(np.uint64)
            values = values.astype(np.float64)
            if self.seconds_per_unit != 1.0:
                values *= self.seconds_per_unit
        self.missing += rows - len(values)
        self.moments.add(values)
        self.sample.add(values, rng)
        self._add_distinct(raw)

    def _add_distinct(self, raw: Hashes) -> None:
        if self.logical_type is LogicalType.INTEGER and len(raw) and not self.distinct.saturated:
            raw = _small_range_distinct(raw.view(np.int64)).view(np.uint64)
        self.distinct.add(mix64(raw))

    def _track_datetime_bounds(self, array: pa.Array) -> None:
        if not len(array):
            return
        bounds = pc.min_max(array)
        low, high = bounds["min"], bounds["max"]
        if self.low is None or pc.less(low, self.low).as_py():
            self.low = low
        if self.high is None or pc.greater(high, self.high).as_py():
            self.high = high

    def _as_epoch_integers(self, array: pa.Array) -> pa.Array:
        if pa.types.is_date(array.type):
            array = array.cast(pa.timestamp("s"))
        unit = array.type.unit
        self.seconds_per_unit = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}[unit]
        return array.cast(pa.int64())

    def result(self) -> ColumnProfile:
        distinct, exact = self.distinct.estimate()
        moments = self.moments
        profile = ColumnProfile(
            name=self.name,
            logical_type=self.logical_type,
            physical_type=self.physical_type,
            count=self.count,
            missing=self.missing,
            distinct=distinct,
            distinct_is_exact=exact,
        )
        if not moments.n:
            return profile
        low: float | str = moments.low
        high: float | str = moments.high
        if self.low is not None and self.high is not None:
            low, high = _iso(self.low), _iso(self.high)
        return replace(
            profile,
            min=low,
            max=high,
            mean=moments.mean,
            std=moments.std(),
            quantiles=_quantiles(self.sample.values),
            histogram=_histogram(self.sample.values, moments),
        )


def _small_range_distinct(values: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Distinct integers by marking them in a bitmap when their range is small (cheap)."""
    low, high = int(values.min()), int(values.max())
    if high - low > max(4 * len(values), 1 << 16):
        return values
    seen = np.zeros(high - low + 1, dtype=bool)
    seen[values - low] = True
    return np.flatnonzero(seen) + low


def _iso(value: pa.Scalar) -> str:
    return str(value.as_py().isoformat())


def _quantiles(sample: Floats) -> dict[str, float]:
    points = np.quantile(sample, QUANTILES)
    return {str(q): float(v) for q, v in zip(QUANTILES, points, strict=True)}


def _histogram(sample: Floats, moments: Moments) -> Histogram:
    if moments.low == moments.high:
        return Histogram(edges=[moments.low, moments.high], counts=[moments.n])
    edges = np.linspace(moments.low, moments.high, HISTOGRAM_BINS + 1)
    counts, _ = np.histogram(sample, bins=edges)
    if len(sample) < moments.n:  # a sample: scale, rounding so the counts sum to n exactly
        scaled = counts * (moments.n / len(sample))
        whole = np.floor(scaled).astype(np.int64)
        short = moments.n - int(whole.sum())
        whole[np.argsort(whole - scaled, kind="stable")[:short]] += 1
        counts = whole
    return Histogram(edges=[float(e) for e in edges], counts=[int(c) for c in counts])


@dataclass
class _BooleanColumn(_ColumnBase):
    moments: Moments = field(default_factory=Moments)
    true: int = 0

    def update(self, array: pa.Array, rng: np.random.Generator) -> None:
        array = _plain(array)
        self.count += len(array)
        self.missing += array.null_count
        values = array.drop_null().to_numpy(zero_copy_only=False).astype(np.float64)
        self.moments.add(values)
        self.true += int(values.sum())

    def result(self) -> ColumnProfile:
        n, false = self.moments.n, self.moments.n - self.true
        tops = [CategoryCount("true", self.true), CategoryCount("false", false)]
        tops = sorted((c for c in tops if c.count), key=lambda c: -c.count)
        return ColumnProfile(
            name=self.name,
            logical_type=LogicalType.BOOLEAN,
            physical_type=self.physical_type,
            count=self.count,
            missing=self.missing,
            distinct=len(tops),
            min=self.moments.low if n else None,
            max=self.moments.high if n else None,
            mean=self.moments.mean if n else None,
            std=self.moments.std(),
            top_categories=tops,
        )


@dataclass
class _StringColumn(_ColumnBase):
    top: TopCounts = field(default_factory=TopCounts)
    low: str | None = None
    high: str | None = None

    def update(self, array: pa.Array, rng: np.random.Generator) -> None:
        array = _plain(array)
        self.count += len(array)
        self.missing += array.null_count
        if array.null_count == len(array):
            return
        counted = pc.value_counts(array.drop_null())
        values = counted.field("values")
        bounds = pc.min_max(values)  # of the distinct values: as exact, and fewer to compare
        low, high = bounds["min"].as_py(), bounds["max"].as_py()
        self.low = low if self.low is None else min(self.low, low)
        self.high = high if self.high is None else max(self.high, high)
        self.top.add(values, counted.field("counts").to_numpy().astype(np.int64))
        self.distinct.add(hash_strings(values))

    def result(self) -> ColumnProfile:
        distinct, exact = self.distinct.estimate()
        present = self.count - self.missing
        categorical = distinct <= max(20, 0.05 * present)
        return ColumnProfile(
            name=self.name,
            logical_type=LogicalType.CATEGORICAL if categorical else LogicalType.TEXT,
            physical_type=self.physical_type,
            count=self.count,
            missing=self.missing,
            distinct=distinct,
            distinct_is_exact=exact,
            min=self.low,
            max=self.high,
            top_categories=self.top.top(TOP_CATEGORIES),
        )


@dataclass
class _OtherColumn(_ColumnBase):
    """Lists, structs, binary…: only counted."""

    def update(self, array: pa.Array, rng: np.random.Generator) -> None:
        self.count += len(array)
        self.missing += array.null_count

    def result(self) -> ColumnProfile:
        return ColumnProfile(
            name=self.name,
            logical_type=LogicalType.TEXT,
            physical_type=self.physical_type,
            count=self.count,
            missing=self.missing,
            distinct=0,
            distinct_is_exact=False,
        )
