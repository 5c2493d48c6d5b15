"""Per-feature drift statistics between a reference and a current sample (pure computation).

SciPy computes the statistics; this module only prepares the samples and names the results:

- Kolmogorov–Smirnov two-sample test: :func:`scipy.stats.ks_2samp` (exact statistic; the
  p-value exact for samples up to 10,000, else SciPy's asymptotic one).
- Wasserstein-1 distance: :func:`scipy.stats.wasserstein_distance`, normalised by the
  reference's standard deviation (a distance of 0.1 is a tenth of the reference's spread).
  Above :data:`SORTED_PATH_SIZE` values a side, the same distance is read off the two sorted
  samples in one pass (``W1 = ∫|F⁻¹(t) − G⁻¹(t)| dt`` over the merged quantile grid, no second
  sort of the pooled values): equal to SciPy's within 1e-9, several times faster.
- Chi-square test of homogeneity on category counts: :func:`scipy.stats.chi2_contingency`
  (no continuity correction, so a 2×2 table is not made conservative).
- PSI and Jensen–Shannon distance on binned counts: :mod:`loopml.data.drift`'s definitions,
  the ones ``loopml data diff`` uses.

>>> import numpy as np
>>> ks_test(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 3.0])).statistic
0.0
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from loopml.core.errors import InvalidInputError
from loopml.data.drift import js_distance, psi

__all__ = [
    "MIN_SCALE",
    "SORTED_PATH_SIZE",
    "Statistic",
    "chi_square_test",
    "js_statistic",
    "ks_test",
    "normalised_wasserstein",
    "psi_statistic",
    "wasserstein_distance",
]

Floats = npt.NDArray[np.float64]
SORTED_PATH_SIZE = 20_000
"""Above this many values on a side, Wasserstein is computed from the sorted samples."""
MIN_SCALE = 1e-3
"""The smallest reference spread a Wasserstein distance is divided by (a constant reference
would otherwise make any change infinite)."""


@dataclass(frozen=True)
class Statistic:
    """One test's outcome: a statistic, and a p-value for the hypothesis tests."""

    method: str  # "ks", "chi_square", "wasserstein", "psi", "jensen_shannon"
    statistic: float
    p_value: float | None = None


def ks_test(reference: Floats, current: Floats) -> Statistic:
    """Two-sample Kolmogorov–Smirnov test (two-sided), by SciPy."""
    from scipy import stats

    _check_sides("ks_test", len(reference), len(current))
    result = stats.ks_2samp(reference, current)
    return Statistic("ks", float(result.statistic), float(result.pvalue))


def wasserstein_distance(reference: Floats, current: Floats, *, is_sorted: bool = False) -> float:
    """The Wasserstein-1 (earth mover's) distance between two samples, in their unit.

    ``is_sorted`` says both are sorted ascending already (then large samples skip a sort).
    """
    _check_sides("wasserstein_distance", len(reference), len(current))
    if min(len(reference), len(current)) <= SORTED_PATH_SIZE:
        from scipy import stats

        return float(stats.wasserstein_distance(reference, current))
    if not is_sorted:
        reference, current = np.sort(reference), np.sort(current)
    return _wasserstein_sorted(reference, current)


def normalised_wasserstein(
    reference: Floats, current: Floats, *, is_sorted: bool = False
) -> Statistic:
    """Wasserstein-1 distance divided by the reference's standard deviation (population,
    at least :data:`MIN_SCALE`): 0.1 means the distributions are a tenth of a spread apart."""
    scale = max(float(np.std(reference)), MIN_SCALE) if len(reference) else MIN_SCALE
    distance = wasserstein_distance(reference, current, is_sorted=is_sorted)
    return Statistic("wasserstein", distance / scale)


def _wasserstein_sorted(u: Floats, v: Floats) -> float:
    """W1 of two sorted samples: ``∫₀¹ |U⁻¹(t) − V⁻¹(t)| dt`` with the empirical quantile
    functions, which step at ``i/n`` and ``j/m``. On the grid of integers ``0..n·m`` the
    steps are ``i·m`` and ``j·n``; their merged order is known in closed form, so no sort."""
    n, m = len(u), len(v)
    if n == m:
        return float(np.mean(np.abs(u - v)))
    i = np.arange(n, dtype=np.int64)
    j = np.arange(m, dtype=np.int64)
    # position of u's step i: i, plus the v steps strictly before it (j·n < i·m)
    u_at = i + (i * m + n - 1) // n
    steps = np.empty(n + m, dtype=np.int64)
    is_u = np.zeros(n + m, dtype=bool)
    is_u[u_at] = True
    steps[u_at] = i * m
    steps[~is_u] = j * n  # v's steps fill the other places, in order
    # on the segment starting at each step, U⁻¹ and V⁻¹ take the latest step's value of each
    u_index = np.cumsum(is_u) - 1
    v_index = np.maximum(np.arange(n + m) - u_index - 1, 0)  # steps so far that were v's
    widths = np.diff(steps, append=n * m).astype(np.float64)
    gaps = np.abs(u[u_index] - v[v_index])
    return float(np.dot(widths, gaps) / (float(n) * m))


def chi_square_test(
    reference_counts: Sequence[float], current_counts: Sequence[float]
) -> Statistic:
    """Chi-square test that both count vectors (the same categories) come from one
    distribution. Categories empty on both sides are left out; one category left is no drift."""
    from scipy import stats

    table = np.asarray([reference_counts, current_counts], dtype=np.float64)
    if table.ndim != 2 or table.shape[1] == 0:
        raise InvalidInputError("chi_square_test needs two count lists of the same length.")
    _check_sides("chi_square_test", int(table[0].sum()), int(table[1].sum()))
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2:
        return Statistic("chi_square", 0.0, 1.0)
    result = stats.chi2_contingency(table, correction=False)
    return Statistic("chi_square", float(result.statistic), float(result.pvalue))


def psi_statistic(reference_counts: Sequence[float], current_counts: Sequence[float]) -> Statistic:
    """Population Stability Index on counts in the same bins (:func:`loopml.data.drift.psi`)."""
    return Statistic("psi", psi(reference_counts, current_counts))


def js_statistic(reference_counts: Sequence[float], current_counts: Sequence[float]) -> Statistic:
    """Jensen–Shannon distance (base 2) on counts in the same bins
    (:func:`loopml.data.drift.js_distance`)."""
    return Statistic("jensen_shannon", js_distance(reference_counts, current_counts))


def _check_sides(name: str, reference: int, current: int) -> None:
    if reference < 1 or current < 1:
        raise InvalidInputError(
            f"{name} needs at least one value on each side. Got {reference} reference and "
            f"{current} current values."
        )
