"""Distribution distances between a reference and a current distribution (pure computation).

Used by ``loopml data diff`` (version A vs version B, from stored profiles) and meant for
monitoring (a reference profile vs a window of live traffic). Both sides are first put on the
same bins — the reference's stored histogram edges for numbers, the categories known on both
sides plus an "other" bucket for categories — then compared:

- Population Stability Index, ``PSI = Σ (a_i - e_i) · ln(a_i / e_i)`` over bin shares. The
  usual reading: below 0.1 stable, 0.1 to 0.25 a moderate shift, above 0.25 a major shift.
- Jensen–Shannon distance, the square root of the JS divergence in bits: 0 for identical
  distributions, 1 for ones with no bin in common. Symmetric and finite without an epsilon.

>>> round(psi([50, 50], [40, 60]), 4)
0.0405
>>> drift_verdict(0.3)
<DriftVerdict.MAJOR: 'major'>
"""

from __future__ import annotations

import enum
import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from loopml.core.errors import InvalidInputError
from loopml.data.profiles import ColumnProfile, Histogram, LogicalType

__all__ = [
    "EPSILON",
    "MAJOR_PSI",
    "MODERATE_PSI",
    "OTHER",
    "AlignedCounts",
    "ColumnDrift",
    "DriftVerdict",
    "align_categories",
    "column_drift",
    "drift_verdict",
    "js_distance",
    "psi",
    "rebin_on_edges",
]

EPSILON = 1e-4
"""The share an empty bin is given in PSI, so that ``ln(a/e)`` stays finite."""
MODERATE_PSI = 0.1
MAJOR_PSI = 0.25
OTHER = "(other)"
"""The bucket for every category not known on both sides."""

Floats = npt.NDArray[np.float64]
_NUMBERS = (LogicalType.NUMERIC, LogicalType.INTEGER, LogicalType.DATETIME)
_CATEGORIES = (LogicalType.CATEGORICAL, LogicalType.BOOLEAN)


class DriftVerdict(enum.StrEnum):
    STABLE = "stable"  # PSI < 0.1
    MODERATE = "moderate"  # 0.1 <= PSI <= 0.25
    MAJOR = "major"  # PSI > 0.25


@dataclass(frozen=True)
class AlignedCounts:
    """Counts of the reference (``expected``) and current (``actual``) data on the same bins."""

    labels: tuple[str, ...]
    expected: tuple[float, ...]
    actual: tuple[float, ...]


@dataclass(frozen=True)
class ColumnDrift:
    """How far a column's distribution moved. ``estimated`` is True when the current side was
    re-binned from its summary (quantiles, histogram) rather than counted on the same bins."""

    method: str  # "histogram" (numbers) or "categories"
    psi: float
    js_distance: float
    verdict: DriftVerdict
    bins: int
    estimated: bool

    def to_dict(self) -> dict[str, object]:
        return {
            "method": self.method,
            "psi": self.psi,
            "js_distance": self.js_distance,
            "verdict": self.verdict.value,
            "bins": self.bins,
            "estimated": self.estimated,
        }


# distances ---------------------------------------------------------------------------------
def psi(expected: Sequence[float], actual: Sequence[float], *, epsilon: float = EPSILON) -> float:
    """Population Stability Index of ``actual`` against ``expected`` (counts on the same bins).

    Counts are turned into shares; a share below ``epsilon`` is raised to ``epsilon`` (no
    renormalisation), so an empty bin on one side adds a large but finite term.

    >>> psi([10, 20, 30], [10, 20, 30])
    0.0
    """
    e, a = _shares(expected, actual, "psi")
    e, a = np.maximum(e, epsilon), np.maximum(a, epsilon)
    return max(0.0, float(np.sum((a - e) * np.log(a / e))))


def js_distance(expected: Sequence[float], actual: Sequence[float]) -> float:
    """Jensen–Shannon distance (base 2, so within [0, 1]) between two binned distributions.

    >>> js_distance([1, 0], [0, 1])
    1.0
    """
    p, q = _shares(expected, actual, "js_distance")
    m = (p + q) / 2
    divergence = (_kl_bits(p, m) + _kl_bits(q, m)) / 2
    return min(1.0, math.sqrt(max(0.0, divergence)))


def drift_verdict(psi_value: float) -> DriftVerdict:
    """The usual reading of a PSI: < 0.1 stable, 0.1–0.25 moderate, > 0.25 major."""
    if psi_value < MODERATE_PSI:
        return DriftVerdict.STABLE
    if psi_value <= MAJOR_PSI:
        return DriftVerdict.MODERATE
    return DriftVerdict.MAJOR


def _shares(expected: Sequence[float], actual: Sequence[float], name: str) -> tuple[Floats, Floats]:
    e = np.asarray(expected, dtype=np.float64)
    a = np.asarray(actual, dtype=np.float64)
    if e.ndim != 1 or e.shape != a.shape or not len(e):
        raise InvalidInputError(
            f"The counts given to {name} must be two non-empty lists of the same length. "
            f"Got {len(e)} and {len(a)} bins instead."
        )
    if not (np.isfinite(e).all() and np.isfinite(a).all()) or (e < 0).any() or (a < 0).any():
        raise InvalidInputError(f"The counts given to {name} must be finite and non-negative.")
    if e.sum() <= 0 or a.sum() <= 0:
        raise InvalidInputError(f"The counts given to {name} must not all be zero on a side.")
    return e / e.sum(), a / a.sum()


def _kl_bits(p: Floats, m: Floats) -> float:
    present = p > 0  # 0 · log 0 = 0; m > 0 wherever p > 0
    return float(np.sum(p[present] * np.log2(p[present] / m[present])))


# putting both sides on the same bins ---------------------------------------------------------
def rebin_on_edges(
    column: ColumnProfile, edges: Sequence[float], *, total: float | None = None
) -> list[float]:
    """Estimated counts of ``column``'s values in the bins given by ``edges`` (another
    profile's histogram edges); the outer bins are open, so every value lands in one.

    ``column`` keeps only a summary, so this is an estimate: its CDF is taken through the
    points its histogram and quantiles give, linear in between, and read at ``edges``. It
    sums to ``total`` (default: the column's non-missing count). A single edge pair
    ``[v, v]`` (a constant reference) means three bins: below v, exactly v, above v.
    """
    if total is None:
        total = float(column.count - column.missing)
    cuts = _cuts(edges)
    low, high = _as_float(column.min), _as_float(column.max)
    if low is not None and low == high:  # a constant column: all of it in one bin
        counts = [0.0] * (len(cuts) + 1)
        counts[_bin_of(cuts, low, edges)] = total
        return counts
    xs, ys = _cdf_points(column)
    if not len(xs):
        raise InvalidInputError(
            f"Column {column.name!r} has no histogram or quantiles to re-bin (no values?)."
        )
    if len(edges) == 2 and edges[0] == edges[1]:
        below = float(np.interp(edges[0], xs, ys, left=0.0, right=1.0))
        return [below * total, 0.0, (1.0 - below) * total]
    cdf = np.interp(np.asarray(cuts, dtype=np.float64), xs, ys, left=0.0, right=1.0)
    shares = np.diff(np.concatenate(([0.0], cdf, [1.0])))
    return [float(s) * total for s in np.maximum(shares, 0.0)]


def _cuts(edges: Sequence[float]) -> list[float]:
    """The inner boundaries of the open-ended bins made from ``edges``."""
    if len(edges) < 2 or any(b < a for a, b in itertools.pairwise(edges)):
        raise InvalidInputError(
            f"Histogram edges must be at least two non-decreasing numbers. Got {list(edges)}."
        )
    if len(edges) == 2 and edges[0] == edges[1]:
        return [edges[0], edges[0]]
    return list(edges[1:-1])


def _bin_of(cuts: list[float], value: float, edges: Sequence[float]) -> int:
    if len(edges) == 2 and edges[0] == edges[1]:
        return 0 if value < edges[0] else 1 if value == edges[0] else 2
    return int(np.searchsorted(np.asarray(cuts), value, side="right"))  # bins are [a, b)


def _cdf_points(column: ColumnProfile) -> tuple[Floats, Floats]:
    """Increasing x with a non-decreasing CDF estimate, from the histogram and quantiles."""
    points: list[tuple[float, float]] = []
    hist = column.histogram
    if hist is not None and sum(hist.counts) > 0:
        cumulative = np.cumsum(hist.counts) / sum(hist.counts)
        points.append((hist.edges[0], 0.0))
        points.extend(zip(hist.edges[1:], (float(c) for c in cumulative), strict=True))
    points.extend((value, float(q)) for q, value in column.quantiles.items())
    low, high = _as_float(column.min), _as_float(column.max)
    if low is not None and high is not None and points:
        points.extend([(low, 0.0), (high, 1.0)])
    if not points:
        return np.empty(0), np.empty(0)
    points.sort()
    xs = np.asarray([x for x, _ in points], dtype=np.float64)
    ys = np.maximum.accumulate(np.asarray([y for _, y in points], dtype=np.float64))
    last = np.append(xs[1:] != xs[:-1], True)  # per x, keep the highest CDF value
    return xs[last], ys[last]


def align_categories(
    expected: Mapping[str, float],
    actual: Mapping[str, float],
    *,
    expected_total: float,
    actual_total: float,
    expected_complete: bool = False,
    actual_complete: bool = False,
) -> AlignedCounts:
    """Category counts of both sides on the same buckets, the rest in an ``"(other)"`` bucket.

    Each side lists only its most frequent categories; the totals count every non-missing
    value. A category gets its own bucket when its count is known on both sides: listed, or
    absent from a side whose list is ``complete`` (then its count there is 0). Everything
    else goes to "other", which is only kept when it is not empty on both sides.
    """
    labels = [v for v in expected if v in actual or actual_complete]
    labels += [v for v in actual if v not in expected and expected_complete]
    e = [float(expected.get(v, 0.0)) for v in labels]
    a = [float(actual.get(v, 0.0)) for v in labels]
    e_other, a_other = max(0.0, expected_total - sum(e)), max(0.0, actual_total - sum(a))
    if e_other > 0 or a_other > 0 or not labels:
        labels, e, a = [*labels, OTHER], [*e, e_other], [*a, a_other]
    return AlignedCounts(tuple(labels), tuple(e), tuple(a))


def column_drift(reference: ColumnProfile, current: ColumnProfile) -> ColumnDrift | None:
    """PSI and JS distance of ``current`` against ``reference``, or None when they cannot be
    compared (no values on a side, text columns, or a number column against a category one).

    Numbers use the reference's histogram edges and re-bin ``current`` onto them
    (:func:`rebin_on_edges`, an estimate unless both have the same edges); categorical and
    boolean columns use their top-category counts (:func:`align_categories`).
    """
    ref_total = reference.count - reference.missing
    cur_total = current.count - current.missing
    if ref_total <= 0 or cur_total <= 0:
        return None
    kinds = {reference.logical_type, current.logical_type}
    if kinds <= set(_NUMBERS) and reference.histogram is not None:
        expected, actual, estimated = _numeric_bins(reference.histogram, current, cur_total)
        method = "histogram"
    elif kinds <= set(_CATEGORIES) and reference.top_categories and current.top_categories:
        aligned = align_categories(
            {c.value: c.count for c in reference.top_categories},
            {c.value: c.count for c in current.top_categories},
            expected_total=ref_total,
            actual_total=cur_total,
            expected_complete=_lists_all(reference),
            actual_complete=_lists_all(current),
        )
        expected, actual, estimated = list(aligned.expected), list(aligned.actual), False
        method = "categories"
    else:
        return None
    value = psi(expected, actual)
    return ColumnDrift(
        method=method,
        psi=value,
        js_distance=js_distance(expected, actual),
        verdict=drift_verdict(value),
        bins=len(expected),
        estimated=estimated,
    )


def _numeric_bins(
    reference: Histogram, current: ColumnProfile, total: int
) -> tuple[list[float], list[float], bool]:
    edges = reference.edges
    expected = [float(c) for c in reference.counts]
    if len(edges) == 2 and edges[0] == edges[1]:
        expected = [0.0, float(sum(reference.counts)), 0.0]
    same = current.histogram is not None and current.histogram.edges == edges
    if same and current.histogram is not None and len(expected) == len(current.histogram.counts):
        return expected, [float(c) for c in current.histogram.counts], False
    return expected, rebin_on_edges(current, edges, total=float(total)), True


def _lists_all(column: ColumnProfile) -> bool:
    return column.distinct_is_exact and len(column.top_categories) >= column.distinct


def _as_float(value: float | str | None) -> float | None:
    return value if isinstance(value, float | int) and not isinstance(value, bool) else None
