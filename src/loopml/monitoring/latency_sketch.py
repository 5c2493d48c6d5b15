"""A mergeable sketch of latencies: counts on logarithmic bins (as DDSketch), so the
percentiles of a window are read off the sum of its parts' sketches, within 1% of the exact
value, without keeping every latency. Pure computation.

>>> sketch = LatencySketch.of([1.0, 2.0, 3.0, 4.0, 100.0])
>>> round(sketch.quantile(0.5), 1)
3.0
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["RELATIVE_ERROR", "LatencySketch"]

GAMMA = 1.02  # bin i holds (GAMMA^(i-1), GAMMA^i] ms
RELATIVE_ERROR = (GAMMA - 1) / (GAMMA + 1)  # ≈ 0.0099
SMALLEST_MS = 1e-3  # below a microsecond: one bin


@dataclass
class LatencySketch:
    """Counts of latencies (ms) by logarithmic bin index."""

    counts: dict[int, int] = field(default_factory=dict)

    @classmethod
    def of(cls, latencies_ms: Iterable[float] | Any) -> LatencySketch:
        """The sketch of ``latencies_ms`` (a sequence or a numpy array)."""
        import numpy as np

        values = np.maximum(np.asarray(latencies_ms, dtype=np.float64), SMALLEST_MS)
        values = values[np.isfinite(values)]
        if values.size == 0:
            return cls()
        indices = np.ceil(np.log(values) / math.log(GAMMA)).astype(np.int64)
        bins, counts = np.unique(indices, return_counts=True)
        return cls({int(b): int(c) for b, c in zip(bins, counts, strict=True)})

    @classmethod
    def from_dict(cls, counts: Mapping[str, int]) -> LatencySketch:
        return cls({int(index): int(count) for index, count in counts.items()})

    def to_dict(self) -> dict[str, int]:
        return {str(index): count for index, count in sorted(self.counts.items())}

    @property
    def count(self) -> int:
        return sum(self.counts.values())

    def merge(self, other: LatencySketch) -> None:
        """Add ``other``'s counts to this sketch."""
        for index, count in other.counts.items():
            self.counts[index] = self.counts.get(index, 0) + count

    def quantile(self, q: float) -> float | None:
        """The latency at quantile ``q`` (0..1), None for an empty sketch; the nearest-rank
        latency, within ``RELATIVE_ERROR`` of it."""
        total = self.count
        if total == 0:
            return None
        rank = max(1, math.ceil(q * total))
        seen = 0
        for index in sorted(self.counts):
            seen += self.counts[index]
            if seen >= rank:
                return 2 * GAMMA**index / (GAMMA + 1)
        return 2 * GAMMA ** max(self.counts) / (GAMMA + 1)  # pragma: no cover - rank ≤ total
