"""The parallel-coordinates geometry of a study's trials (pure: runs in, SVG geometry out)."""

from __future__ import annotations

import math

from loopml.core.entities import Run, RunStatus
from loopml.dashboard.parallel_coordinates import (
    BOTTOM,
    TOP,
    objective_of,
    parallel_coordinates,
)


def _trial(number: int, params: dict[str, str], metrics: dict[str, float]) -> Run:
    return Run(
        f"{number:032x}", "e", f"trial-{number}", RunStatus.FINISHED, 0, 1, "p", params, metrics
    )


def _ys(points: str) -> list[float]:
    return [float(pair.split(",")[1]) for pair in points.split()]


def test_each_param_is_an_axis_and_the_objective_the_last() -> None:
    trials = [
        _trial(0, {"lr": "0.001", "model": "rf"}, {"objective": 0.7}),
        _trial(1, {"lr": "0.1", "model": "lr"}, {"objective": 0.9}),
        _trial(2, {"lr": "0.01", "model": "rf"}, {"objective": 0.8}),
    ]
    plot = parallel_coordinates(trials, "objective", [trials[1].id], higher_is_better=True)
    assert plot is not None
    assert [axis.label for axis in plot.axes] == ["lr (log)", "model", "objective"]
    best = next(line for line in plot.lines if line.run_id == trials[1].id)
    assert best.picked and plot.lines[-1] is best  # the compared run is drawn last, on top
    assert _ys(best.points) == [TOP, BOTTOM, TOP]  # largest lr, first category, best objective
    middle = next(line for line in plot.lines if line.run_id == trials[2].id)
    assert math.isclose(_ys(middle.points)[0], (TOP + BOTTOM) / 2)  # 0.01: halfway on a log axis


def test_trials_without_the_objective_or_a_value_are_left_out() -> None:
    trials = [
        _trial(0, {"x": "1"}, {"objective": 1.0}),
        _trial(1, {"x": "2"}, {"objective": 2.0}),
        _trial(2, {"x": "3"}, {}),  # failed: no objective
        _trial(3, {}, {"objective": 3.0}),  # no x
    ]
    plot = parallel_coordinates(trials, "objective", [], higher_is_better=False)
    assert plot is not None
    assert len(plot.lines) == 2 and plot.left_out == 1
    # minimising: the lowest objective is the warm end of the colours
    colours = {line.run_id: line.colour for line in plot.lines}
    assert colours[trials[0].id] == "#e66e14"


def test_no_plot_without_two_scored_trials_and_the_objective_is_found() -> None:
    lone = [_trial(0, {"x": "1"}, {"objective": 1.0})]
    assert parallel_coordinates(lone, "objective", [], higher_is_better=True) is None
    assert (
        objective_of([_trial(0, {}, {"auc": 1.0, "loss": 0.1}), _trial(1, {}, {"auc": 1})]) == "auc"
    )
    assert objective_of([_trial(0, {}, {"objective": 1.0})]) == "objective"
    assert objective_of([]) is None
