"""Data and prediction drift between a reference table and a current one.

Each compared column gets one test, chosen by its type and the smaller side's sample size
(``n`` = present values), unless the options name another:

========================  ===============================  ===========================
column                    n ≤ 1,000                        n > 1,000
========================  ===============================  ===========================
numbers, datetimes        Kolmogorov–Smirnov, p < 0.05     normalised Wasserstein ≥ 0.1
categories, booleans,     chi-square, p < 0.05             Jensen–Shannon ≥ 0.1
numbers with ≤ 5 values
========================  ===============================  ===========================

Why: with large samples a p-value test flags shifts too small to matter (at a million rows
KS rejects a 0.005-standard-deviation shift), so large samples are judged by how far the
distributions moved instead; at 1,000 rows a side both rules flag shifts of about a tenth of
a standard deviation. PSI (≥ 0.1) can be chosen for any column. Missing values are counted
and left out of the tests. The dataset drifts when the share of drifted feature columns
reaches ``drift_share`` (0.5); a prediction column is judged apart.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

import pyarrow as pa

from loopml.core.errors import InvalidInputError
from loopml.data.profiles import LogicalType
from loopml.monitoring import statistics
from loopml.monitoring.references import TableSource
from loopml.monitoring.samples import (
    Bins,
    ColumnKind,
    category_bins,
    category_counts,
    few_values,
    for_plot,
    is_text,
    kind_of,
    number_bins,
    number_counts,
    numbers,
    reference_edges,
)

__all__ = [
    "CORRECTIONS",
    "DEFAULT_THRESHOLDS",
    "METHODS",
    "ColumnResult",
    "DriftOptions",
    "DriftReport",
    "compare",
]

METHODS = ("ks", "wasserstein", "chi_square", "psi", "jensen_shannon")
P_VALUE_METHODS = ("ks", "chi_square")
_NUMERIC_ONLY = ("ks", "wasserstein")
_CATEGORICAL_ONLY = ("chi_square",)
DEFAULT_THRESHOLDS: Mapping[str, float] = {
    "ks": 0.05,  # significance level: drift when p < 0.05
    "chi_square": 0.05,
    "wasserstein": 0.1,  # drift when the distance is >= 0.1 reference standard deviations
    "psi": 0.1,
    "jensen_shannon": 0.1,
}
CORRECTIONS = ("none", "bonferroni", "bh")
_APPLY_TO_NUMBERS = "ks, wasserstein, psi or jensen_shannon"
_APPLY_TO_CATEGORIES = "chi_square, psi or jensen_shannon"
LARGE_SAMPLE = 1_000
FEW_VALUES = 5


@dataclass(frozen=True)
class DriftOptions:
    """How to compare. ``methods`` maps a column (or ``"*"``, every column it applies to) to a
    method; ``thresholds`` overrides :data:`DEFAULT_THRESHOLDS` (for p-value tests, the
    significance level); ``correction`` adjusts the feature p-values for testing many columns
    (Bonferroni, or Benjamini–Hochberg's false discovery rate)."""

    columns: tuple[str, ...] | None = None
    prediction: str | None = None
    methods: Mapping[str, str] = field(default_factory=dict)
    thresholds: Mapping[str, float] = field(default_factory=dict)
    correction: str = "none"
    drift_share: float = 0.5
    large_sample: int = LARGE_SAMPLE

    def __post_init__(self) -> None:
        for method in [*self.methods.values(), *self.thresholds]:
            if method not in METHODS:
                raise InvalidInputError(
                    f"Unknown drift method {method!r}; the methods are {', '.join(METHODS)}."
                )
        for method, value in self.thresholds.items():
            if not value > 0 or (method in P_VALUE_METHODS and value >= 1):
                allowed = "between 0 and 1" if method in P_VALUE_METHODS else "above 0"
                raise InvalidInputError(
                    f"The threshold of {method} must be {allowed}. Got {value} instead."
                )
        if self.correction not in CORRECTIONS:
            raise InvalidInputError(
                f"Unknown correction {self.correction!r}; choose one of {', '.join(CORRECTIONS)}."
            )
        if not 0 < self.drift_share <= 1:
            raise InvalidInputError(
                f"The drift share must be above 0 and at most 1. Got {self.drift_share} instead."
            )

    def threshold(self, method: str) -> float:
        return self.thresholds.get(method, DEFAULT_THRESHOLDS[method])


@dataclass(frozen=True)
class ColumnResult:
    """One column's comparison. ``method`` is None when it was not tested (``note`` says
    why: every value missing on a side, or a type no test applies to)."""

    column: str
    kind: ColumnKind
    method: str | None
    statistic: float | None
    p_value: float | None
    threshold: float | None
    drifted: bool
    reference_count: int  # present values
    current_count: int
    reference_missing: int
    current_missing: int
    bins: Bins | None = None
    adjusted_p_value: float | None = None
    note: str = ""

    def to_dict(self, *, bins: bool = False) -> dict[str, object]:
        found: dict[str, object] = {
            "column": self.column,
            "kind": self.kind.value,
            "method": self.method,
            "statistic": self.statistic,
            "p_value": self.p_value,
            "adjusted_p_value": self.adjusted_p_value,
            "threshold": self.threshold,
            "drifted": self.drifted,
            "reference_count": self.reference_count,
            "current_count": self.current_count,
            "reference_missing": self.reference_missing,
            "current_missing": self.current_missing,
            "note": self.note,
        }
        if bins and self.bins is not None:
            found["bins"] = self.bins.to_dict()
        return found


@dataclass(frozen=True)
class DriftReport:
    reference: str
    current: str
    features: tuple[ColumnResult, ...]
    prediction: ColumnResult | None
    correction: str
    drift_share: float  # the threshold
    ignored: tuple[str, ...] = ()  # current columns the reference does not have

    @property
    def tested(self) -> int:
        return sum(1 for c in self.features if c.method is not None)

    @property
    def drifted_features(self) -> list[str]:
        return [c.column for c in self.features if c.drifted]

    @property
    def share(self) -> float:
        """Drifted feature columns over tested ones (0 when none was tested)."""
        return len(self.drifted_features) / self.tested if self.tested else 0.0

    @property
    def dataset_drifted(self) -> bool:
        return self.tested > 0 and self.share >= self.drift_share

    @property
    def drifted(self) -> bool:
        """The verdict: the dataset drifted, or the prediction did."""
        return self.dataset_drifted or (self.prediction is not None and self.prediction.drifted)

    def to_dict(self, *, bins: bool = False) -> dict[str, object]:
        return {
            "reference": self.reference,
            "current": self.current,
            "drifted": self.drifted,
            "dataset_drifted": self.dataset_drifted,
            "drift_share": self.share,
            "drift_share_threshold": self.drift_share,
            "tested": self.tested,
            "drifted_features": self.drifted_features,
            "correction": self.correction,
            "features": [c.to_dict(bins=bins) for c in self.features],
            "prediction": self.prediction.to_dict(bins=bins) if self.prediction else None,
            "ignored_columns": list(self.ignored),
        }


def compare(
    reference: TableSource, current: TableSource, options: DriftOptions | None = None
) -> DriftReport:
    """Compare every column of ``reference`` (or ``options.columns``) with ``current``.

    InvalidInputError when a compared column is missing from a side or has a type the other
    side's cannot be compared with (numbers against text).
    """
    options = options or DriftOptions()
    names = _compared_columns(reference, current, options)
    workers = max(1, min(len(names), os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(lambda n: _column(reference, current, n, options), names))
    by_name = dict(zip(names, results, strict=True))
    prediction = by_name.pop(options.prediction) if options.prediction else None
    features = _corrected([by_name[n] for n in names if n in by_name], options)
    return DriftReport(
        reference=reference.label,
        current=current.label,
        features=tuple(features),
        prediction=prediction,
        correction=options.correction,
        drift_share=options.drift_share,
        ignored=tuple(n for n in current.columns if n not in reference.columns),
    )


def _compared_columns(
    reference: TableSource, current: TableSource, options: DriftOptions
) -> list[str]:
    names = list(options.columns) if options.columns else list(reference.columns)
    if options.prediction and options.prediction not in names:
        names.append(options.prediction)
    for side, source in (("reference", reference), ("current", current)):
        missing = [n for n in names if n not in source.columns]
        if missing:
            have = ", ".join(source.columns[:20]) + (", …" if len(source.columns) > 20 else "")
            raise InvalidInputError(
                f"The {side} {source.label} has no column {', '.join(map(repr, missing))}; "
                f"its columns: {have}."
            )
    for column in options.methods:
        if column != "*" and column not in names:
            raise InvalidInputError(
                f"A method is given for column {column!r}, which is not compared; the "
                f"compared columns: {', '.join(names)}."
            )
    for name in names:
        ref_kind = kind_of(reference.schema.field(name).type)
        cur_kind = kind_of(current.schema.field(name).type)
        if not _comparable(ref_kind, cur_kind):
            raise InvalidInputError(
                f"Column {name!r} is {reference.schema.field(name).type} in the reference "
                f"{reference.label} but {current.schema.field(name).type} in the current "
                f"{current.label}; a column must hold the same kind of values on both sides."
            )
    return names


def _comparable(a: ColumnKind, b: ColumnKind) -> bool:
    return a == b or ColumnKind.EMPTY in (a, b)


def _column(
    reference: TableSource, current: TableSource, name: str, options: DriftOptions
) -> ColumnResult:
    kinds = [kind_of(s.schema.field(name).type) for s in (reference, current)]
    kind = kinds[0] if kinds[0] is not ColumnKind.EMPTY else kinds[1]
    if kind is ColumnKind.UNSUPPORTED:
        blank = ColumnResult(name, kind, None, None, None, None, False, 0, 0, 0, 0)
        return replace(blank, note=f"not tested: no test for {reference.schema.field(name).type}")
    ref_column, cur_column = reference.column(name), current.column(name)
    if kind in (ColumnKind.NUMERIC, ColumnKind.DATETIME):
        return _numeric(name, kind, ref_column, cur_column, reference, options)
    if kind is ColumnKind.CATEGORICAL:
        ref_counts, ref_missing = category_counts(ref_column)
        cur_counts, cur_missing = category_counts(cur_column)
        if _text(reference, name, ref_counts):
            ref_n, cur_n = sum(ref_counts.values()), sum(cur_counts.values())
            return ColumnResult(
                name, ColumnKind.TEXT, None, None, None, None, False,
                ref_n, cur_n, ref_missing, cur_missing,
                note=f"not tested: text ({len(ref_counts):,} distinct values in the reference)",
            )  # fmt: skip
        return _categorical(
            name, kind, (ref_counts, ref_missing), (cur_counts, cur_missing), options
        )
    return ColumnResult(
        name, kind, None, None, None, None, False, 0, 0, len(ref_column), len(cur_column),
        note="not tested: every value is missing on both sides",
    )  # fmt: skip


def _numeric(
    name: str,
    kind: ColumnKind,
    ref_column: pa.ChunkedArray,
    cur_column: pa.ChunkedArray,
    reference: TableSource,
    options: DriftOptions,
) -> ColumnResult:
    ref, cur = numbers(ref_column), numbers(cur_column)
    n = min(len(ref.values), len(cur.values))
    blank = ColumnResult(
        name, kind, None, None, None, None, False,
        len(ref.values), len(cur.values), ref.missing, cur.missing,
    )  # fmt: skip
    if n == 0:
        return replace(blank, note="not tested: no value present on a side")
    explicit = options.methods.get(name)
    few = kind is ColumnKind.NUMERIC and explicit not in _NUMERIC_ONLY
    if few and few_values(ref.values, FEW_VALUES):  # codes, years, counts: compared as categories
        counted = (number_counts(ref.values), ref.missing), (number_counts(cur.values), cur.missing)
        return replace(_categorical(name, kind, *counted, options), kind=kind)
    method = _method(name, kind, n, options)
    stored = _stored_edges(reference, name)
    bins = number_bins(ref.values, cur.values, reference_edges(ref.values, stored))
    if method == "ks":
        result = statistics.ks_test(ref.values, cur.values)
    elif method == "wasserstein":
        result = statistics.normalised_wasserstein(ref.values, cur.values, is_sorted=True)
    else:
        result = _binned(method, bins)
    return _judged(replace(blank, bins=bins), result, options)


def _categorical(
    name: str,
    kind: ColumnKind,
    ref: tuple[dict[str, int], int],
    cur: tuple[dict[str, int], int],
    options: DriftOptions,
) -> ColumnResult:
    (ref_counts, ref_missing), (cur_counts, cur_missing) = ref, cur
    ref_n, cur_n = sum(ref_counts.values()), sum(cur_counts.values())
    blank = ColumnResult(
        name, ColumnKind.CATEGORICAL, None, None, None, None, False,
        ref_n, cur_n, ref_missing, cur_missing,
    )  # fmt: skip
    if min(ref_n, cur_n) == 0:
        return replace(blank, note="not tested: no value present on a side")
    bins = category_bins(ref_counts, cur_counts)
    method = _method(name, ColumnKind.CATEGORICAL, min(ref_n, cur_n), options)
    if method == "chi_square":
        result = statistics.chi_square_test(bins.reference, bins.current)
    else:
        result = _binned(method, bins)
    return _judged(replace(blank, bins=for_plot(bins)), result, options)


def _method(name: str, kind: ColumnKind, n: int, options: DriftOptions) -> str:
    numeric = kind is not ColumnKind.CATEGORICAL
    chosen = options.methods.get(name)
    if chosen is not None:
        if (numeric and chosen in _CATEGORICAL_ONLY) or (not numeric and chosen in _NUMERIC_ONLY):
            raise InvalidInputError(
                f"Method {chosen} does not apply to column {name!r} ({kind.value}); "
                f"{_APPLY_TO_NUMBERS if numeric else _APPLY_TO_CATEGORIES} do."
            )
        return chosen
    every = options.methods.get("*")
    if every is not None and not (
        (numeric and every in _CATEGORICAL_ONLY) or (not numeric and every in _NUMERIC_ONLY)
    ):
        return every
    if n <= options.large_sample:
        return "ks" if numeric else "chi_square"
    return "wasserstein" if numeric else "jensen_shannon"


def _binned(method: str, bins: Bins) -> statistics.Statistic:
    if method == "psi":
        return statistics.psi_statistic(bins.reference, bins.current)
    return statistics.js_statistic(bins.reference, bins.current)


def _judged(
    blank: ColumnResult, result: statistics.Statistic, options: DriftOptions
) -> ColumnResult:
    threshold = options.threshold(result.method)
    if result.p_value is not None:
        drifted = result.p_value < threshold
    else:
        drifted = result.statistic >= threshold
    return replace(
        blank,
        method=result.method,
        statistic=result.statistic,
        p_value=result.p_value,
        adjusted_p_value=result.p_value,
        threshold=threshold,
        drifted=drifted,
    )


def _corrected(features: Sequence[ColumnResult], options: DriftOptions) -> list[ColumnResult]:
    """Feature p-values adjusted for the number of p-value tests, and judged again."""
    tested = [i for i, c in enumerate(features) if c.p_value is not None]
    if options.correction == "none" or len(tested) < 2:
        return list(features)
    import numpy as np
    from scipy import stats

    raw = np.asarray([features[i].p_value for i in tested], dtype=np.float64)
    if options.correction == "bonferroni":
        adjusted = np.minimum(1.0, raw * len(raw))
    else:
        adjusted = stats.false_discovery_control(raw, method="bh")
    found = list(features)
    for i, p in zip(tested, adjusted, strict=True):
        column = found[i]
        drifted = column.threshold is not None and float(p) < column.threshold
        found[i] = replace(column, adjusted_p_value=float(p), drifted=drifted)
    return found


def _text(reference: TableSource, name: str, counts: Mapping[str, int]) -> bool:
    if pa.types.is_boolean(reference.schema.field(name).type):
        return False
    if reference.profile is not None:
        try:
            return reference.profile.column(name).logical_type is LogicalType.TEXT
        except KeyError:
            pass
    return is_text(counts, sum(counts.values()))


def _stored_edges(reference: TableSource, name: str) -> list[float] | None:
    if reference.profile is None:
        return None
    try:
        histogram = reference.profile.column(name).histogram
    except KeyError:
        return None
    return histogram.edges if histogram is not None else None
