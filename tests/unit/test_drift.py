"""Distribution distances (loopml.data.drift) against hand-computed values and known shapes."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from loopml.core.errors import InvalidInputError
from loopml.data.drift import (
    EPSILON,
    OTHER,
    DriftVerdict,
    align_categories,
    column_drift,
    drift_verdict,
    js_distance,
    psi,
    rebin_on_edges,
)
from loopml.data.profiles import ColumnProfile, Histogram, LogicalType
from loopml.data.profiling import compute_profile


def profile_of(values: object) -> ColumnProfile:
    return compute_profile([pa.record_batch({"x": values})]).column("x")


def numeric(edges: list[float], counts: list[int]) -> ColumnProfile:
    return ColumnProfile(
        name="x",
        logical_type=LogicalType.NUMERIC,
        physical_type="double",
        count=sum(counts),
        missing=0,
        distinct=sum(counts),
        min=edges[0],
        max=edges[-1],
        histogram=Histogram(edges=edges, counts=counts),
    )


def test_psi_matches_the_hand_computed_value() -> None:
    # shares 0.5/0.5 -> 0.4/0.6: (0.4-0.5)·ln(0.4/0.5) + (0.6-0.5)·ln(0.6/0.5)
    expected = -0.1 * math.log(0.8) + 0.1 * math.log(1.2)
    assert psi([50, 50], [40, 60]) == pytest.approx(expected)
    assert psi([50, 50], [40, 60]) == pytest.approx(0.040546, abs=1e-6)


def test_an_empty_bin_counts_as_epsilon_so_psi_stays_finite() -> None:
    value = psi([100, 0], [90, 10])
    by_hand = (0.9 - 1.0) * math.log(0.9) + (0.1 - EPSILON) * math.log(0.1 / EPSILON)
    assert value == pytest.approx(by_hand)
    assert value == pytest.approx(0.700621, abs=1e-6)


def test_js_distance_matches_the_hand_computed_value() -> None:
    p, q, m = [0.5, 0.5], [0.25, 0.75], [0.375, 0.625]
    kl_pm = sum(a * math.log2(a / b) for a, b in zip(p, m, strict=True))
    kl_qm = sum(a * math.log2(a / b) for a, b in zip(q, m, strict=True))
    assert js_distance([1, 1], [1, 3]) == pytest.approx(math.sqrt((kl_pm + kl_qm) / 2))
    assert js_distance([1, 1], [1, 3]) == pytest.approx(0.220895, abs=1e-6)


def test_disjoint_distributions_are_at_js_distance_one() -> None:
    assert js_distance([5, 0], [0, 7]) == pytest.approx(1.0)


def test_identical_distributions_are_at_distance_zero() -> None:
    counts = [3, 0, 12, 7]
    assert psi(counts, counts) == 0.0
    assert js_distance(counts, counts) == 0.0
    assert psi(counts, [2 * c for c in counts]) == pytest.approx(0.0)  # shares, not counts


@pytest.mark.parametrize(
    ("value", "verdict"),
    [
        (0.0, DriftVerdict.STABLE),
        (0.0999, DriftVerdict.STABLE),
        (0.1, DriftVerdict.MODERATE),
        (0.25, DriftVerdict.MODERATE),
        (0.2501, DriftVerdict.MAJOR),
    ],
)
def test_the_verdict_follows_the_usual_psi_thresholds(value: float, verdict: DriftVerdict) -> None:
    assert drift_verdict(value) is verdict


@pytest.mark.parametrize(
    ("expected", "actual"),
    [([1, 2], [1, 2, 3]), ([], []), ([0, 0], [1, 1]), ([1, -1], [1, 1]), ([1, math.nan], [1, 1])],
)
def test_distances_reject_counts_that_are_not_two_aligned_distributions(
    expected: list[float], actual: list[float]
) -> None:
    with pytest.raises(InvalidInputError, match="counts given to psi"):
        psi(expected, actual)


bin_pairs = st.lists(st.tuples(st.integers(0, 1000), st.integers(0, 1000)), min_size=1, max_size=30)


@given(bin_pairs.filter(lambda pairs: all(sum(side) > 0 for side in zip(*pairs, strict=True))))
def test_psi_is_non_negative_and_js_distance_is_a_symmetric_value_in_0_1(
    pairs: list[tuple[int, int]],
) -> None:
    e, a = [p[0] for p in pairs], [p[1] for p in pairs]
    assert psi(e, a) >= 0.0
    assert 0.0 <= js_distance(e, a) <= 1.0
    assert js_distance(e, a) == pytest.approx(js_distance(a, e))


def test_rebinning_reads_the_cdf_linearly_inside_bins_and_opens_the_outer_bins() -> None:
    column = numeric([0.0, 1.0, 2.0, 3.0, 4.0], [10, 20, 30, 40])
    assert rebin_on_edges(column, [0.0, 2.0, 4.0]) == pytest.approx([30, 70])
    assert rebin_on_edges(column, [0.0, 0.5, 4.0]) == pytest.approx([5, 95])
    # bins beyond the column's range: the outer bins take everything below / above
    assert rebin_on_edges(column, [-10.0, 1.0, 3.0, 10.0]) == pytest.approx([10, 50, 40])
    assert rebin_on_edges(column, [1.0, 3.0]) == pytest.approx([100])
    assert rebin_on_edges(column, [5.0, 6.0, 7.0], total=50) == pytest.approx([50, 0])


def test_a_constant_column_lands_in_one_bin_and_a_constant_reference_makes_three() -> None:
    constant = numeric([2.0, 2.0], [10])
    assert rebin_on_edges(constant, [0.0, 1.0, 3.0, 4.0]) == pytest.approx([0, 10, 0])
    assert rebin_on_edges(constant, [2.0, 2.0]) == pytest.approx([0, 10, 0])
    spread = numeric([0.0, 1.0, 2.0, 3.0, 4.0], [10, 20, 30, 40])
    assert rebin_on_edges(spread, [2.0, 2.0]) == pytest.approx([30, 0, 70])
    drift = column_drift(constant, spread)
    assert drift is not None and drift.bins == 3 and drift.verdict is DriftVerdict.MAJOR


def test_rebinning_a_sample_estimates_the_exact_counts_closely() -> None:
    rng = np.random.default_rng(7)
    reference = profile_of(rng.normal(0.0, 1.0, 5000))
    values = rng.normal(0.5, 1.2, 5000)
    assert reference.histogram is not None
    edges = np.array(reference.histogram.edges)
    exact, _ = np.histogram(values, bins=np.concatenate(([-np.inf], edges[1:-1], [np.inf])))
    estimate = rebin_on_edges(profile_of(values), reference.histogram.edges)
    assert sum(estimate) == pytest.approx(5000)
    assert np.abs(np.array(estimate) - exact).max() < 0.01 * 5000
    assert psi(reference.histogram.counts, estimate) == pytest.approx(
        psi(reference.histogram.counts, exact), rel=0.1
    )


def test_the_same_distribution_is_stable_and_a_shifted_normal_is_a_major_drift() -> None:
    rng = np.random.default_rng(0)
    reference = profile_of(rng.normal(0.0, 1.0, 5000))
    same = column_drift(reference, profile_of(rng.normal(0.0, 1.0, 5000)))
    shifted = column_drift(reference, profile_of(rng.normal(1.0, 1.0, 5000)))
    far = column_drift(reference, profile_of(rng.normal(3.0, 1.0, 5000)))
    assert same is not None and shifted is not None and far is not None
    assert same.verdict is DriftVerdict.STABLE and same.psi < 0.05 and same.estimated
    assert shifted.verdict is DriftVerdict.MAJOR and shifted.psi > 0.5
    assert shifted.js_distance > 0.3
    assert far.psi > shifted.psi and far.js_distance > 0.8


def test_the_very_same_profile_scores_exactly_zero() -> None:
    column = profile_of(np.arange(100, dtype=np.float64))
    drift = column_drift(column, column)
    assert drift is not None
    assert (drift.psi, drift.js_distance, drift.estimated) == (0.0, 0.0, False)


def test_categories_known_on_both_sides_get_buckets_and_the_rest_goes_to_other() -> None:
    aligned = align_categories(
        {"a": 50, "b": 30}, {"a": 40, "c": 35}, expected_total=100, actual_total=100
    )
    # "b" is unknown in the current list and "c" in the reference list: both in "other"
    assert aligned.labels == ("a", OTHER)
    assert aligned.expected == (50.0, 50.0) and aligned.actual == (40.0, 60.0)

    complete = align_categories(
        {"a": 50, "b": 50},
        {"a": 40, "b": 40, "c": 20},
        expected_total=100,
        actual_total=100,
        expected_complete=True,
        actual_complete=True,
    )
    assert complete.labels == ("a", "b", "c")
    assert complete.expected == (50.0, 50.0, 0.0) and complete.actual == (40.0, 40.0, 20.0)


def test_categorical_drift_uses_the_top_category_shares() -> None:
    reference = profile_of(["a"] * 50 + ["b"] * 50)
    current = profile_of(["a"] * 40 + ["b"] * 60 + [None] * 7)
    drift = column_drift(reference, current)
    assert drift is not None and drift.method == "categories" and drift.bins == 2
    assert drift.psi == pytest.approx(0.040546, abs=1e-6)  # as computed by hand above
    assert drift.verdict is DriftVerdict.STABLE


def test_columns_that_cannot_be_compared_get_no_score() -> None:
    numbers = profile_of([1.0, 2.0, 3.0])
    words = profile_of(["a", "b", "a"])
    text = profile_of([f"id-{i}" for i in range(500)])
    empty = profile_of(pa.array([None, None], type=pa.float64()))
    assert text.logical_type is LogicalType.TEXT
    assert column_drift(numbers, words) is None
    assert column_drift(text, text) is None
    assert column_drift(numbers, empty) is None
    assert column_drift(empty, numbers) is None
