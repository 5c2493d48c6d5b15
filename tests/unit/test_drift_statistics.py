"""Drift statistics (loopml.monitoring): agreement with SciPy, hand-checked PSI and JS, the
false-positive rate on samples of one distribution, known shifts, missing values."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from scipy import stats

from loopml.core.errors import InvalidInputError
from loopml.monitoring import statistics
from loopml.monitoring.drift import DriftOptions, compare
from loopml.monitoring.references import TableSource, open_table
from loopml.monitoring.samples import ColumnKind


def _sources(
    reference: dict[str, object], current: dict[str, object]
) -> tuple[TableSource, TableSource]:
    return (
        TableSource.in_memory(pa.table(reference), "ref"),
        TableSource.in_memory(pa.table(current), "cur"),
    )


# agreement with SciPy --------------------------------------------------------------------
@pytest.mark.parametrize("n, m", [(50, 80), (900, 1000), (3_000, 2_500)])
def test_ks_through_compare_agrees_with_scipy_on_the_present_values(n: int, m: int) -> None:
    rng = np.random.default_rng(n)
    ref, cur = rng.normal(0, 1, n), rng.normal(0.1, 1.2, m)
    ref[::17] = np.nan  # missing values are left out of the test, and counted
    expected = stats.ks_2samp(ref[~np.isnan(ref)], cur)
    report = compare(*_sources({"x": ref}, {"x": cur}), DriftOptions(methods={"x": "ks"}))
    column = report.features[0]
    assert column.method == "ks"
    assert column.statistic == pytest.approx(expected.statistic, abs=1e-9)
    assert column.p_value == pytest.approx(expected.pvalue, abs=1e-9)
    assert column.reference_missing == len(ref[::17])
    assert column.reference_count == n - len(ref[::17])


@pytest.mark.parametrize(
    "n, m", [(30, 31), (25_000, 25_000), (40_000, 25_001), (21_000, 60_000), (20_001, 1)]
)
def test_wasserstein_agrees_with_scipy_on_both_paths(n: int, m: int) -> None:
    rng = np.random.default_rng(m)
    u = np.round(rng.normal(0, 3, n), 1)  # rounded: many ties
    v = rng.gamma(2.0, 1.5, m)
    expected = stats.wasserstein_distance(u, v)
    assert statistics.wasserstein_distance(u, v) == pytest.approx(expected, rel=1e-9, abs=1e-9)
    got = statistics.wasserstein_distance(np.sort(u), np.sort(v), is_sorted=True)
    assert got == pytest.approx(expected, rel=1e-9, abs=1e-9)


def test_normalised_wasserstein_through_compare_is_scipy_over_the_reference_std() -> None:
    rng = np.random.default_rng(5)
    ref, cur = rng.normal(10, 2, 30_000), rng.normal(10.5, 2, 25_000)
    report = compare(*_sources({"x": ref}, {"x": cur}))
    column = report.features[0]
    assert column.method == "wasserstein"  # the default above 1,000 values a side
    expected = stats.wasserstein_distance(ref, cur) / np.std(ref)
    assert column.statistic == pytest.approx(expected, rel=1e-9)
    assert column.drifted  # a quarter of a standard deviation


def test_chi_square_is_scipys_contingency_test() -> None:
    expected = stats.chi2_contingency(np.array([[30, 50, 20], [45, 35, 20]]), correction=False)
    got = statistics.chi_square_test([30, 50, 20, 0], [45, 35, 20, 0])  # an empty category
    assert got.statistic == pytest.approx(expected.statistic, abs=1e-9)
    assert got.p_value == pytest.approx(expected.pvalue, abs=1e-9)
    assert statistics.chi_square_test([5, 0], [7, 0]) == statistics.Statistic(
        "chi_square", 0.0, 1.0
    )


# PSI and Jensen–Shannon on hand-checked cases ------------------------------------------------
def test_psi_matches_its_definition_by_hand() -> None:
    # shares (0.5, 0.5) → (0.4, 0.6): (0.4-0.5)·ln(0.8) + (0.6-0.5)·ln(1.2)
    #   = 0.1·0.2231436 + 0.1·0.1823216 = 0.04054651
    assert statistics.psi_statistic([50, 50], [40, 60]).statistic == pytest.approx(0.04054651)
    assert statistics.psi_statistic([1, 2, 3], [2, 4, 6]).statistic == 0.0


def test_jensen_shannon_matches_its_definition_by_hand() -> None:
    # p = (.5, .5), q = (.25, .75), m = (.375, .625)
    # KL(p‖m) = .5·log2(.5/.375) + .5·log2(.5/.625) = .5·0.4150375 − .5·0.3219281 = 0.0465547
    # KL(q‖m) = .25·log2(.25/.375) + .75·log2(.75/.625) = −0.1462406 + 0.1972757 = 0.0510351
    # JS distance = sqrt((0.0465547 + 0.0510351) / 2) = sqrt(0.0487949) = 0.2208957
    assert statistics.js_statistic([1, 1], [1, 3]).statistic == pytest.approx(0.2208957, abs=1e-6)
    assert statistics.js_statistic([1, 0], [0, 1]).statistic == 1.0


# the false-positive rate, and known shifts -----------------------------------------------------
def test_samples_of_one_distribution_are_flagged_at_about_the_chosen_rate() -> None:
    rng = np.random.default_rng(2026)
    trials, alpha = 300, 0.05
    flagged = {"numbers": 0, "categories": 0}
    for _ in range(trials):
        letters = np.array(["a", "b", "c", "d"])
        shares = [0.4, 0.3, 0.2, 0.1]
        ref = {"x": rng.normal(0, 1, 400), "c": letters[rng.choice(4, 400, p=shares)]}
        cur = {"x": rng.normal(0, 1, 300), "c": letters[rng.choice(4, 300, p=shares)]}
        report = compare(*_sources(ref, cur), DriftOptions(thresholds={"ks": alpha}))
        by_name = {c.column: c for c in report.features}
        flagged["numbers"] += by_name["x"].drifted
        flagged["categories"] += by_name["c"].drifted
    # binomial standard deviation at 300 trials: sqrt(.05 · .95 / 300) = 0.0126
    for kind, count in flagged.items():
        assert abs(count / trials - alpha) <= 0.035, (kind, count / trials)


def test_bonferroni_keeps_the_family_wise_rate_below_alpha() -> None:
    rng = np.random.default_rng(7)
    trials, any_flagged = 150, 0
    for _ in range(trials):
        ref = {f"x{i}": rng.normal(0, 1, 200) for i in range(10)}
        cur = {f"x{i}": rng.normal(0, 1, 200) for i in range(10)}
        report = compare(*_sources(ref, cur), DriftOptions(correction="bonferroni"))
        any_flagged += bool(report.drifted_features)
    assert any_flagged / trials <= 0.05 + 0.035


@pytest.mark.parametrize("rows", [300, 5_000])
def test_known_shifts_are_flagged_and_the_rest_are_not(rows: int) -> None:
    rng = np.random.default_rng(rows)
    letters = np.array(["a", "b", "c"])
    ref = {
        "same": rng.normal(0, 1, rows),
        "moved": rng.normal(0, 1, rows),
        "mix": letters[rng.choice(3, rows, p=[0.6, 0.3, 0.1])],
    }
    cur = {
        "same": rng.normal(0, 1, rows),
        "moved": rng.normal(0.6, 1, rows),
        "mix": letters[rng.choice(3, rows, p=[0.2, 0.3, 0.5])],
    }
    report = compare(*_sources(ref, cur))
    assert report.drifted_features == ["moved", "mix"]
    assert report.dataset_drifted  # 2 of 3 ≥ 50%
    methods = {c.column: c.method for c in report.features}
    if rows <= 1_000:
        assert methods == {"same": "ks", "moved": "ks", "mix": "chi_square"}
    else:
        assert methods == {"same": "wasserstein", "moved": "wasserstein", "mix": "jensen_shannon"}


def test_benjamini_hochberg_adjusts_like_scipy() -> None:
    rng = np.random.default_rng(3)
    ref = {f"x{i}": rng.normal(0, 1, 200) for i in range(6)}
    cur = {f"x{i}": rng.normal(0.05 * i, 1, 200) for i in range(6)}
    report = compare(*_sources(ref, cur), DriftOptions(correction="bh"))
    raw = [c.p_value for c in report.features]
    expected = stats.false_discovery_control(raw, method="bh")
    assert [c.adjusted_p_value for c in report.features] == pytest.approx(expected)
    assert [c.drifted for c in report.features] == [bool(p < 0.05) for p in expected]


# types, missing values, bad options -------------------------------------------------------
def test_missing_values_are_counted_and_an_all_missing_side_is_not_tested() -> None:
    ref = {
        "n": pa.array([1.5, None, float("nan"), 2.5, 3.5] * 10),
        "s": pa.array(["a", None, "b", "a", "b"] * 10),
        "gone": pa.array([1.0, 2.0, 3.0, 4.0, 5.0] * 10),
        "when": pa.array(np.datetime64("2024-01-01", "s") + np.arange(50) * 86_400),
    }
    cur = {
        "n": pa.array([1.5, 2.5, None, 3.5, 4.5] * 10),
        "s": pa.array(["a", "b", None, None, "a"] * 10),
        "gone": pa.array([None] * 50, type=pa.float64()),
        "when": pa.array(np.datetime64("2024-03-01", "s") + np.arange(50) * 86_400),
    }
    report = compare(*_sources(ref, cur))
    by_name = {c.column: c for c in report.features}
    assert (by_name["n"].reference_missing, by_name["n"].current_missing) == (20, 10)
    assert (by_name["s"].reference_missing, by_name["s"].current_missing) == (10, 20)
    assert by_name["gone"].method is None and "no value" in by_name["gone"].note
    assert by_name["when"].kind is ColumnKind.DATETIME and by_name["when"].drifted
    assert report.tested == 3


def test_few_valued_numbers_are_compared_as_categories_and_free_text_is_not_tested() -> None:
    rng = np.random.default_rng(0)
    ids = [f"id-{i}" for i in range(500)]
    ref = {"year": rng.choice([2007, 2008, 2009], 500), "id": ids}
    cur = {"year": rng.choice([2007, 2008, 2009], 400), "id": ids[:400]}
    by_name = {c.column: c for c in compare(*_sources(ref, cur)).features}
    assert by_name["year"].method == "chi_square"
    assert by_name["id"].kind is ColumnKind.TEXT and by_name["id"].method is None
    asked = compare(*_sources(ref, cur), DriftOptions(methods={"year": "ks"})).features[0]
    assert asked.method == "ks"  # a test asked for by name is the one used


def test_prediction_drift_is_judged_apart_from_the_features() -> None:
    rng = np.random.default_rng(1)
    ref = {"x": rng.normal(0, 1, 500), "prediction": rng.choice(["yes", "no"], 500, p=[0.2, 0.8])}
    cur = {"x": rng.normal(0, 1, 500), "prediction": rng.choice(["yes", "no"], 500, p=[0.6, 0.4])}
    report = compare(*_sources(ref, cur), DriftOptions(prediction="prediction"))
    assert [c.column for c in report.features] == ["x"]
    assert report.prediction is not None and report.prediction.drifted
    assert not report.dataset_drifted and report.drifted


@pytest.mark.parametrize(
    "options, message",
    [
        (lambda: DriftOptions(methods={"*": "t_test"}), "Unknown drift method 't_test'"),
        (lambda: DriftOptions(thresholds={"ks": 1.5}), "threshold of ks must be between 0 and 1"),
        (lambda: DriftOptions(correction="holm"), "Unknown correction 'holm'"),
        (lambda: DriftOptions(drift_share=0), "drift share must be above 0"),
    ],
)
def test_bad_options_are_refused_with_what_is_allowed(options: object, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        options()  # type: ignore[operator]


def test_a_column_mismatch_names_the_column_and_both_types() -> None:
    with pytest.raises(InvalidInputError, match=r"no column 'y'"):
        compare(*_sources({"x": [1.0]}, {"x": [1.0]}), DriftOptions(columns=("y",)))
    with pytest.raises(InvalidInputError, match=r"'x' is double in the reference ref but string"):
        compare(*_sources({"x": [1.0, 2.0]}, {"x": ["a", "b"]}))
    with pytest.raises(InvalidInputError, match=r"Method ks does not apply to column 'c'"):
        compare(*_sources({"c": ["a"]}, {"c": ["b"]}), DriftOptions(methods={"c": "ks"}))


def test_a_constant_reference_is_compared_without_dividing_by_zero() -> None:
    report = compare(*_sources({"x": [2.0] * 2000}, {"x": [2.0] * 1000 + [3.0] * 1000}))
    column = report.features[0]
    assert column.method == "chi_square" or math.isfinite(column.statistic or 0.0)
    assert column.drifted


def test_parquet_files_read_column_by_column_give_the_same_report(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    rng = np.random.default_rng(11)
    sides = []
    for name, shift in (("ref", 0.0), ("cur", 0.4)):
        values = rng.normal(shift, 1, 3_000)
        table = pa.table(
            {
                "x": pa.array(values, mask=rng.random(3_000) < 0.05),
                "c": pa.array(rng.choice(["a", "b", "c"], 3_000)).dictionary_encode(),
                "t": pa.array(np.datetime64("2025-01-01", "s") + (values * 3600).astype(int)),
            }
        )
        pq.write_table(table, tmp_path / f"{name}.parquet", row_group_size=700)  # chunked reads
        sides.append(table)
    from_files = compare(open_table(tmp_path / "ref.parquet"), open_table(tmp_path / "cur.parquet"))
    in_memory = compare(TableSource.in_memory(sides[0]), TableSource.in_memory(sides[1]))
    assert [c.to_dict(bins=True) for c in from_files.features] == [
        c.to_dict(bins=True) for c in in_memory.features
    ]
    assert from_files.drifted_features == ["x", "t"]
