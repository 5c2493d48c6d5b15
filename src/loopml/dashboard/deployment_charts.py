"""Charts and the drift grid of the deployments page, computed on the server (pure: numbers in,
coordinates out). The template draws them as inline SVG whose colours come from the
stylesheet's classes, so the page needs no script and no style attribute."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

WIDTH, HEIGHT, PAD = 640, 160, 40
PLOT_BOTTOM = HEIGHT - 24
PLOT_TOP = 12

Points = Sequence[tuple[int, float | None]]  # (window start in ms, value or None: no data)


@dataclass(frozen=True)
class Dot:
    x: float
    y: float
    title: str  # what a pointer over it (or a screen reader) is told


@dataclass(frozen=True)
class Series:
    label: str
    css: str  # the stylesheet's class that colours it
    line: str  # SVG polyline points
    dots: tuple[Dot, ...]


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    title: str


@dataclass(frozen=True)
class Chart:
    """One plot over the page's windows: lines (``series``) or ``bars``, a y scale from 0 to
    ``top``, the first and last window's times under it."""

    key: str
    title: str
    top: str
    first: str
    last: str
    series: tuple[Series, ...] = ()
    bars: tuple[Bar, ...] = ()
    width: int = WIDTH
    height: int = HEIGHT
    pad: int = PAD
    bottom: int = PLOT_BOTTOM

    @property
    def empty(self) -> bool:
        return not self.bars and not any(s.dots for s in self.series)


@dataclass(frozen=True)
class Scale:
    """Window starts to x (between ``since_ms`` and ``until_ms``), values to y (0..top)."""

    since_ms: int
    until_ms: int
    window_ms: int
    top: float

    def x(self, start_ms: int) -> float:
        span = max(1, self.until_ms - self.since_ms)
        middle = start_ms + self.window_ms / 2  # a window's point sits in its middle
        return round(PAD + (middle - self.since_ms) / span * (WIDTH - 2 * PAD), 1)

    def y(self, value: float) -> float:
        share = value / self.top if self.top > 0 else 0.0
        return round(PLOT_BOTTOM - share * (PLOT_BOTTOM - PLOT_TOP), 1)

    def slot(self) -> float:
        span = max(1, self.until_ms - self.since_ms)
        return self.window_ms / span * (WIDTH - 2 * PAD)


def number(value: float | None, unit: str = "") -> str:
    """``0.953``, ``12.4 ms``; ``-`` for no value."""
    if value is None:
        return "-"
    return f"{value:.3g}{unit}"


def line_chart(
    key: str,
    title: str,
    series: Sequence[tuple[str, str, Points]],
    scale: tuple[int, int, int],
    labels: tuple[str, str],
    *,
    unit: str = "",
    top: float | None = None,
) -> Chart:
    """Lines of (label, css class, points) over the windows; ``scale`` is (since, until,
    window) in ms, ``labels`` the first and last window's times; ``top`` fixes the y scale
    (1 for a share), else the largest value sets it."""
    values = [v for _, _, points in series for _, v in points if v is not None]
    highest = top if top is not None else max(values, default=0.0) or 1.0
    axis = Scale(*scale, highest)
    drawn = []
    for label, css, points in series:
        known = [(t, v) for t, v in points if v is not None]
        dots = tuple(
            Dot(axis.x(t), axis.y(v), f"{label}: {number(v, unit)}".lstrip(": ")) for t, v in known
        )
        drawn.append(Series(label, css, " ".join(f"{d.x},{d.y}" for d in dots), dots))
    return Chart(key, title, number(highest, unit), *labels, series=tuple(drawn))


def bar_chart(
    key: str,
    title: str,
    points: Points,
    scale: tuple[int, int, int],
    labels: tuple[str, str],
    *,
    what: str,
) -> Chart:
    """A bar per window (its ``what``: requests...)."""
    values = [v for _, v in points if v is not None]
    axis = Scale(*scale, max(values, default=0.0) or 1.0)
    width = max(1.0, round(axis.slot() * 0.8, 1))
    bars = tuple(
        Bar(
            round(axis.x(t) - width / 2, 1),
            axis.y(v),
            width,
            round(PLOT_BOTTOM - axis.y(v), 1),
            f"{v:,.0f} {what}",
        )
        for t, v in points
        if v is not None
    )
    return Chart(key, title, f"{axis.top:,.0f}", *labels, bars=bars)


@dataclass(frozen=True)
class DriftCell:
    text: str  # the test's statistic, short
    css: str  # drift-yes, drift-no, drift-none (not tested that window)
    title: str  # the test, statistic, p-value and verdict


@dataclass(frozen=True)
class DriftRow:
    feature: str
    cells: tuple[DriftCell, ...]
    drifted_windows: int


@dataclass(frozen=True)
class DriftGrid:
    """A row per feature (the most drifted first), a cell per window; ``hidden``: how many
    features were left out (beyond the page's cap)."""

    rows: tuple[DriftRow, ...]
    hidden: int
    tested: int


def drift_grid(drifts: Sequence[dict[str, Any] | None], max_features: int) -> DriftGrid:
    """The features of each window's drift (``Window.checks.drift``; None: not checked)."""
    names = sorted({name for found in drifts if found for name in found.get("features") or {}})
    rows = []
    for name in names:
        cells = tuple(_cell((found or {}).get("features", {}).get(name)) for found in drifts)
        drifted = sum(cell.css == "drift-yes" for cell in cells)
        rows.append(DriftRow(name, cells, drifted))
    strongest = {row.feature: _strongest(row.feature, drifts) for row in rows}
    rows.sort(key=lambda row: (-row.drifted_windows, -strongest[row.feature], row.feature))
    return DriftGrid(tuple(rows[:max_features]), max(0, len(rows) - max_features), len(rows))


def _strongest(name: str, drifts: Sequence[dict[str, Any] | None]) -> float:
    found = [((d or {}).get("features") or {}).get(name) or {} for d in drifts]
    values = [f.get("statistic") for f in found]
    return max((float(v) for v in values if isinstance(v, int | float)), default=0.0)


def _cell(found: dict[str, Any] | None) -> DriftCell:
    if not found:
        return DriftCell("", "drift-none", "not tested in this window")
    statistic, p_value = found.get("statistic"), found.get("p_value")
    verdict = "drifted" if found.get("drifted") else "no drift"
    title = f"{found.get('method')}: statistic {number(statistic)}"
    if isinstance(p_value, int | float):
        title += f", p-value {p_value:.3g}"
    css = "drift-yes" if found.get("drifted") else "drift-no"
    return DriftCell(number(statistic), css, f"{title} ({verdict})")
