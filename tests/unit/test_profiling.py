"""compute_profile: exact statistics, sketch error bounds, logical types, batch-merging."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loopml.core.errors import InvalidInputError
from loopml.data.profiles import LogicalType, TableProfile
from loopml.data.profiling import (
    DISTINCT_SKETCH_SIZE,
    HISTOGRAM_BINS,
    QUANTILES,
    SAMPLE_SIZE,
    compute_profile,
)
from loopml.data.sketches import TopCounts, hash_strings, mix64
from loopml.data.tables import TableFormatError, read_batches


def _split(table: pa.Table, size: int) -> list[pa.RecordBatch]:
    return list(table.to_batches(max_chunksize=size))


def _known() -> pa.Table:
    rng = np.random.default_rng(7)
    values = rng.normal(10.0, 3.0, 5000)
    mask = rng.random(5000) < 0.1
    return pa.table(
        {
            "x": pa.array(values, mask=mask),
            "n": pa.array(rng.integers(-50, 50, 5000)),
            "colour": pa.array(rng.choice(["red", "green", "blue"], 5000, p=[0.5, 0.3, 0.2])),
            "flag": pa.array(rng.random(5000) < 0.25),
        }
    )


def test_exact_statistics_match_numpy() -> None:
    table = _known()
    profile = compute_profile(_split(table, 700), source_format="parquet")
    assert profile.rows == 5000 and profile.source_format == "parquet"
    x = profile.column("x")
    present = table["x"].drop_null().to_numpy()
    assert (x.count, x.missing) == (5000, 5000 - len(present))
    assert x.min == present.min() and x.max == present.max()
    assert x.mean == pytest.approx(present.mean(), rel=1e-12)
    assert x.std == pytest.approx(present.std(ddof=1), rel=1e-12)
    assert x.distinct == len(np.unique(present)) and x.distinct_is_exact
    n = profile.column("n")
    ints = table["n"].to_numpy()
    assert (n.min, n.max, n.distinct) == (ints.min(), ints.max(), len(np.unique(ints)))
    assert n.mean == pytest.approx(ints.mean())


def test_small_data_quantiles_and_histogram_are_exact() -> None:
    table = _known()
    x = compute_profile(_split(table, 999)).column("x")
    present = table["x"].drop_null().to_numpy()
    expected = np.quantile(present, QUANTILES)
    assert list(x.quantiles) == [str(q) for q in QUANTILES]
    assert list(x.quantiles.values()) == pytest.approx(list(expected))
    assert x.histogram is not None
    counts, edges = np.histogram(present, bins=HISTOGRAM_BINS, range=(present.min(), present.max()))
    assert x.histogram.counts == counts.tolist()
    assert x.histogram.edges == pytest.approx(edges.tolist())


def test_large_data_quantiles_are_within_the_documented_rank_error() -> None:
    values = np.random.default_rng(3).exponential(2.0, 200_000)
    column = compute_profile(_split(pa.table({"v": values}), 30_000)).column("v")
    ordered = np.sort(values)
    for q in QUANTILES:
        rank = np.searchsorted(ordered, column.quantiles[str(q)]) / len(values)
        assert abs(rank - q) < 0.01, (q, rank)


def test_histogram_counts_sum_to_present_values_and_edges_increase() -> None:
    values = np.random.default_rng(4).lognormal(0, 1, 100_000)
    mask = np.random.default_rng(5).random(100_000) < 0.05
    column = compute_profile(_split(pa.table({"v": pa.array(values, mask=mask)}), 8192)).column("v")
    assert column.histogram is not None
    assert sum(column.histogram.counts) == column.count - column.missing
    edges = column.histogram.edges
    assert len(edges) == HISTOGRAM_BINS + 1
    assert all(a < b for a, b in itertools.pairwise(edges))
    assert (edges[0], edges[-1]) == (column.min, column.max)
    assert len(values) > SAMPLE_SIZE  # so the counts come from the sample
    exact, _ = np.histogram(values[~mask], bins=np.array(edges))
    big = exact > 5000
    scaled = np.array(column.histogram.counts)
    assert np.all(np.abs(scaled[big] - exact[big]) / exact[big] < 0.1)


def test_a_constant_column_has_one_histogram_bin() -> None:
    column = compute_profile([pa.record_batch({"c": [2.5] * 10})]).column("c")
    assert column.histogram is not None
    assert (column.histogram.edges, column.histogram.counts) == ([2.5, 2.5], [10])
    assert column.std == 0.0


def test_distinct_is_exact_below_the_cap() -> None:
    values = np.arange(DISTINCT_SKETCH_SIZE) % 5000
    column = compute_profile(_split(pa.table({"v": values}), 10_000)).column("v")
    assert (column.distinct, column.distinct_is_exact) == (5000, True)


def test_distinct_is_exact_at_the_cap() -> None:
    values = np.arange(DISTINCT_SKETCH_SIZE)[::-1]
    column = compute_profile(_split(pa.table({"v": values}), 30_000)).column("v")
    assert (column.distinct, column.distinct_is_exact) == (DISTINCT_SKETCH_SIZE, True)


def test_distinct_wide_integers_are_estimated_above_the_cap() -> None:
    values = np.random.default_rng(2).integers(0, 10**12, 200_000)
    column = compute_profile(_split(pa.table({"v": values}), 50_000)).column("v")
    assert not column.distinct_is_exact
    assert column.distinct == pytest.approx(len(np.unique(values)), rel=0.05)


def test_distinct_is_estimated_within_five_percent_above_the_cap() -> None:
    values = np.random.default_rng(9).normal(size=300_000)
    values = np.concatenate([values, values[:50_000]])  # duplicates must not count twice
    column = compute_profile(_split(pa.table({"v": values}), 65_536)).column("v")
    assert not column.distinct_is_exact
    assert column.distinct == pytest.approx(300_000, rel=0.05)


def test_distinct_strings_are_estimated_above_the_cap() -> None:
    words = pa.array([f"word-{i}" for i in range(150_000)])
    column = compute_profile(_split(pa.table({"w": words}), 40_000)).column("w")
    assert not column.distinct_is_exact
    assert column.distinct == pytest.approx(150_000, rel=0.05)
    assert column.logical_type is LogicalType.TEXT


def test_strings_get_lexicographic_bounds_and_exact_top_categories() -> None:
    table = _known()
    column = compute_profile(_split(table, 333)).column("colour")
    assert column.logical_type is LogicalType.CATEGORICAL
    assert (column.min, column.max, column.distinct) == ("blue", "red", 3)
    counts = dict(zip(*np.unique(table["colour"].to_numpy(), return_counts=True), strict=True))
    assert [(c.value, c.count) for c in column.top_categories] == sorted(
        ((str(k), int(v)) for k, v in counts.items()), key=lambda kv: -kv[1]
    )
    assert column.mean is None and column.histogram is None


def test_top_categories_keep_the_ten_most_frequent() -> None:
    values = [f"v{i:02d}" for i in range(30) for _ in range(i + 1)]
    column = compute_profile([pa.record_batch({"s": values})]).column("s")
    assert [c.value for c in column.top_categories] == [f"v{i:02d}" for i in range(29, 19, -1)]
    assert column.top_categories[0].count == 30


def test_many_distinct_strings_are_text_and_few_are_categorical() -> None:
    many = pa.array([f"id-{i}" for i in range(1000)])
    few = pa.array([f"c{i % 40}" for i in range(1000)])
    profile = compute_profile([pa.record_batch({"many": many, "few": few})])
    assert profile.column("many").logical_type is LogicalType.TEXT
    assert profile.column("few").logical_type is LogicalType.CATEGORICAL  # 40 <= 5% of 1000


def test_logical_types_follow_the_arrow_types() -> None:
    batch = pa.record_batch(
        {
            "f": pa.array([1.5, 2.5], pa.float32()),
            "i": pa.array([1, 2], pa.int16()),
            "b": pa.array([True, None]),
            "t": pa.array([dt.datetime(2024, 1, 1), dt.datetime(2024, 1, 2)]),
            "d": pa.array([dt.date(2024, 1, 1), None]),
            "s": pa.array(["a", "b"]).dictionary_encode(),
            "l": pa.array([[1], [2, 3]]),
        }
    )
    profile = compute_profile([batch])
    types = {c.name: c.logical_type for c in profile.columns}
    assert types == {
        "f": LogicalType.NUMERIC,
        "i": LogicalType.INTEGER,
        "b": LogicalType.BOOLEAN,
        "t": LogicalType.DATETIME,
        "d": LogicalType.DATETIME,
        "s": LogicalType.CATEGORICAL,
        "l": LogicalType.TEXT,
    }
    t = profile.column("t")
    assert (t.min, t.max) == ("2024-01-01T00:00:00", "2024-01-02T00:00:00")
    assert t.mean == dt.datetime(2024, 1, 1, 12, tzinfo=dt.UTC).timestamp()
    assert profile.column("d").min == "2024-01-01"
    b = profile.column("b")
    assert (b.missing, b.mean, [c.value for c in b.top_categories]) == (1, 1.0, ["true"])


def test_nan_counts_as_missing_and_an_all_missing_column_has_no_statistics() -> None:
    batch = pa.record_batch(
        {"x": pa.array([1.0, math.nan, None]), "e": pa.array([None, None, None], pa.float64())}
    )
    profile = compute_profile([batch])
    assert (profile.column("x").missing, profile.column("x").mean) == (2, 1.0)
    empty = profile.column("e")
    assert (empty.missing, empty.mean, empty.min, empty.histogram) == (3, None, None, None)


def test_no_batches_give_an_empty_profile() -> None:
    assert compute_profile([]) == TableProfile(rows=0, columns=[])


def test_a_schema_change_between_batches_is_an_error_naming_the_column() -> None:
    first = pa.record_batch({"a": [1, 2]})
    second = pa.record_batch({"a": ["x", "y"]})
    with pytest.raises(InvalidInputError, match="batch 1: column 'a'"):
        compute_profile([first, second])


def test_a_read_error_mid_stream_reaches_the_caller(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("a,b\n" + "1,2\n" * 20_000 + "3,x\n")
    with pytest.raises(TableFormatError, match="line 20002"):
        compute_profile(read_batches(path, batch_size=100))


def test_one_batch_and_many_batches_give_the_same_profile() -> None:
    table = _known()
    whole = compute_profile(table.to_batches()).to_dict()
    split = compute_profile(_split(table, 123)).to_dict()
    for one, many in zip(whole["columns"], split["columns"], strict=True):
        for key in ("mean", "std"):
            if one[key] is not None:
                assert many[key] == pytest.approx(one[key], rel=1e-9)
            one[key] = many[key] = None
        assert one == many


def test_profile_round_trips_through_json() -> None:
    profile = compute_profile(_split(_known(), 1000), source_format="csv")
    assert TableProfile.from_dict(json.loads(json.dumps(profile.to_dict()))) == profile


_values = st.lists(
    st.one_of(st.none(), st.floats(-1e6, 1e6, allow_nan=False)), min_size=1, max_size=60
)


@settings(max_examples=60, deadline=None)
@given(values=_values, cuts=st.lists(st.integers(0, 60), max_size=5))
def test_any_split_into_batches_gives_the_same_summary(
    values: list[float | None], cuts: list[int]
) -> None:
    array = pa.array(values, pa.float64())
    bounds = sorted({0, len(values), *(c for c in cuts if c <= len(values))})
    batches = [pa.record_batch({"v": array.slice(a, b - a)}) for a, b in itertools.pairwise(bounds)]
    one = compute_profile([pa.record_batch({"v": array})]).column("v")
    many = compute_profile(batches).column("v")
    assert (many.count, many.missing, many.min, many.max) == (
        one.count,
        one.missing,
        one.min,
        one.max,
    )
    if one.mean is None:
        assert many.mean is None
    else:
        assert many.mean == pytest.approx(one.mean, rel=1e-9, abs=1e-6)


def test_misra_gries_keeps_heavy_hitters_within_its_error_bound() -> None:
    rng = np.random.default_rng(11)
    data = np.concatenate(
        [np.repeat(["a", "b", "c"], [3000, 2000, 1000]), rng.integers(0, 10**6, 4000).astype(str)]
    )
    rng.shuffle(data)
    top = TopCounts(k=50)
    for chunk in np.array_split(data, 20):
        counted = pc.value_counts(pa.array(chunk))
        top.add(counted.field("values"), counted.field("counts").to_numpy().astype(np.int64))
    assert top.decrement <= len(data) / 51
    best = top.top(3)
    assert [c.value for c in best] == ["a", "b", "c"]
    for category, true in zip(best, (3000, 2000, 1000), strict=True):
        assert true - top.decrement <= category.count <= true


def test_string_hashes_depend_on_order_length_and_ignore_slicing() -> None:
    words = pa.array(["ab", "ba", "", "a", "aa", "ab"])
    hashes = hash_strings(words)
    assert len(set(hashes[:5].tolist())) == 5
    assert hashes[0] == hashes[5]
    assert hash_strings(words.slice(3, 3)).tolist() == hashes[3:].tolist()


def _splitmix64_finaliser(value: int) -> int:
    mask = (1 << 64) - 1
    value = (value ^ (value >> 30)) * 0xBF58476D1CE4E5B9 & mask
    value = (value ^ (value >> 27)) * 0x94D049BB133111EB & mask
    return value ^ (value >> 31)


@given(values=st.lists(st.integers(0, 2**64 - 1), max_size=50))
def test_mix64_is_splitmix64s_finaliser_and_leaves_its_input_alone(values: list[int]) -> None:
    array = np.array(values, dtype=np.uint64)
    mixed = mix64(array)
    assert mixed.tolist() == [_splitmix64_finaliser(v) for v in values]
    assert array.tolist() == values


def test_std_stays_exact_for_values_far_from_zero() -> None:
    values = np.random.default_rng(5).normal(1e9, 0.5, 300_000)
    x = compute_profile(_split(pa.table({"x": values}), 65_536)).column("x")
    assert x.mean == pytest.approx(values.mean(), rel=1e-15)
    assert x.std == pytest.approx(values.std(ddof=1), rel=1e-9)
