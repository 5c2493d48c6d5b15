"""A parallel-coordinates plot of a tuning study as SVG geometry (pure; the template draws
it): one vertical axis per param and one for the objective metric, one line per trial,
coloured from the worst objective to the best, the runs being compared drawn on top."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from loopml.core.entities import Run

WIDTH, HEIGHT = 880, 360
LEFT, RIGHT, TOP, BOTTOM = 70, 70, 40, 320
MAX_AXES = 12  # params; the objective is one more
MAX_CATEGORIES = 20  # a param with more distinct text values is left out


@dataclass(frozen=True)
class Tick:
    y: float
    text: str


@dataclass(frozen=True)
class Axis:
    label: str
    x: float
    ticks: list[Tick]


@dataclass(frozen=True)
class Line:
    run_id: str
    title: str  # the trial's name and values, shown on hover
    points: str  # "x,y x,y ..." for <polyline points>
    colour: str
    picked: bool  # one of the runs compared


@dataclass(frozen=True)
class Plot:
    width: int
    height: int
    axes: list[Axis]
    lines: list[Line]
    left_out: int  # trials without a value on every axis


def objective_of(trials: Sequence[Run]) -> str | None:
    """The metric the study optimised: ``objective`` (what ``loopml.tune`` logs for each
    trial), else the first metric every trial has; None without one."""
    keys = [set(run.metrics) for run in trials]
    if any("objective" in each for each in keys):
        return "objective"
    common = set.intersection(*keys) if keys else set()
    return min(common) if common else None


def parallel_coordinates(
    trials: Sequence[Run], objective: str, picked: Sequence[str], *, higher_is_better: bool
) -> Plot | None:
    """The plot of ``trials`` over their params and ``objective``; None when fewer than two
    trials have the objective or no param varies."""
    scored = [run for run in trials if _finite(run.metrics.get(objective))]
    if len(scored) < 2:
        return None
    keys = sorted({key for run in scored for key in run.params})
    scales = [
        scale
        for key in keys
        if (scale := _scale(key, [run.params.get(key) for run in scored])) is not None
    ][:MAX_AXES]
    values = [run.metrics[objective] for run in scored]
    objective_scale = _NumericScale(objective, min(values), max(values))
    if not scales:
        return None
    every = [*scales, objective_scale]
    step = (WIDTH - LEFT - RIGHT) / (len(every) - 1)
    axes = [Axis(scale.label, LEFT + i * step, scale.ticks()) for i, scale in enumerate(every)]
    lines: list[Line] = []
    left_out = 0
    for run in scored:
        ys = [scale.y(run.params.get(scale.label)) for scale in scales]
        ys.append(objective_scale.y(run.metrics[objective]))
        if any(y is None for y in ys):
            left_out += 1
            continue
        points = " ".join(f"{axis.x:.1f},{y:.1f}" for axis, y in zip(axes, ys, strict=True))
        share = objective_scale.share(run.metrics[objective])
        values_text = ", ".join(f"{s.label}={run.params.get(s.label)}" for s in scales)
        title = f"{run.name}: {values_text}, {objective}={run.metrics[objective]:.4g}"
        lines.append(
            Line(
                run.id,
                title,
                points,
                _colour(share if higher_is_better else 1 - share),
                run.id in picked,
            )
        )
    lines.sort(key=lambda line: line.picked)  # the compared runs on top
    return Plot(WIDTH, HEIGHT, axes, lines, left_out)


class _NumericScale:
    def __init__(self, label: str, low: float, high: float) -> None:
        self.label, self.low, self.high = label, low, high

    def share(self, value: float) -> float:
        return 0.5 if self.high == self.low else (value - self.low) / (self.high - self.low)

    def y(self, value: object) -> float | None:
        number = _number(value)
        return None if number is None else BOTTOM - self.share(number) * (BOTTOM - TOP)

    def ticks(self) -> list[Tick]:
        if self.high == self.low:
            return [Tick((TOP + BOTTOM) / 2, f"{self.low:.4g}")]
        return [Tick(BOTTOM, f"{self.low:.4g}"), Tick(TOP, f"{self.high:.4g}")]


class _CategoryScale:
    def __init__(self, label: str, categories: list[str]) -> None:
        self.label, self.categories = label, categories

    def y(self, value: object) -> float | None:
        if value is None or str(value) not in self.categories:
            return None
        if len(self.categories) == 1:
            return (TOP + BOTTOM) / 2
        index = self.categories.index(str(value))
        return BOTTOM - index / (len(self.categories) - 1) * (BOTTOM - TOP)

    def ticks(self) -> list[Tick]:
        return [Tick(y, c) for c in self.categories if (y := self.y(c)) is not None]


def _scale(label: str, values: list[str | None]) -> _NumericScale | _CategoryScale | None:
    present = [v for v in values if v is not None]
    numbers = [_number(v) for v in present]
    if present and all(n is not None for n in numbers):
        finite = [n for n in numbers if n is not None]
        return _NumericScale(label, min(finite), max(finite))
    categories = sorted(set(present))
    if not categories or len(categories) > MAX_CATEGORIES:
        return None
    return _CategoryScale(label, categories)


def _number(value: object) -> float | None:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def _colour(share: float) -> str:
    """From a muted blue (worst) to a strong orange (best)."""
    low, high = (120, 144, 180), (230, 110, 20)
    mixed = (round(a + (b - a) * share) for a, b in zip(low, high, strict=True))
    return "#{:02x}{:02x}{:02x}".format(*mixed)
