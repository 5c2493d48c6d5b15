"""The bars of a small histogram, as SVG rectangles the page draws itself (pure computation):
no script, so a profile of many columns costs the browser nothing but markup.

>>> [bar.height for bar in histogram_bars([0.0, 1.0, 2.0], [1, 3]).bars]
[12, 36]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Bar", "BarChart", "histogram_bars"]

WIDTH = 160
HEIGHT = 36
MIN_VISIBLE = 1  # a bin with a count gets at least this many pixels, so it is seen


@dataclass(frozen=True)
class Bar:
    x: float
    y: int
    width: float
    height: int
    label: str  # what the bar's <title> says: its bin and count


@dataclass(frozen=True)
class BarChart:
    bars: tuple[Bar, ...]
    width: int
    height: int
    summary: str  # the chart in words, for its aria-label


def histogram_bars(
    edges: Sequence[float], counts: Sequence[int], *, width: int = WIDTH, height: int = HEIGHT
) -> BarChart:
    """One bar per bin (``counts[i]`` values in ``[edges[i], edges[i+1])``), heights scaled to
    the tallest bin."""
    tallest = max(counts, default=0)
    step = width / len(counts) if counts else 0.0
    bars = []
    for index, count in enumerate(counts):
        scaled = round(height * count / tallest) if tallest else 0
        shown = max(scaled, MIN_VISIBLE) if count else 0
        low, high = edges[index], edges[index + 1] if index + 1 < len(edges) else edges[index]
        bars.append(
            Bar(
                x=round(index * step, 2),
                y=height - shown,
                width=round(max(step - 1, 0.5), 2),
                height=shown,
                label=f"{_number(low)} to {_number(high)}: {count:,}",
            )
        )
    summary = (
        f"Histogram of {len(counts)} bins from {_number(edges[0])} to {_number(edges[-1])}"
        if counts and edges
        else "No histogram"
    )
    return BarChart(tuple(bars), width, height, summary)


def _number(value: float) -> str:
    return f"{value:.4g}"
