"""Metadata store checks of a metric's series for charts (``get_metric_series``): a long
history comes back thinned in the store to at most the points asked for, keeping the first
and last points and every bucket's extremes; a short one comes back whole."""

from __future__ import annotations

import math

import pytest

from loopml.core.entities import Metric
from loopml.core.errors import InvalidInputError, NotFoundError
from loopml.stores.metadata.base import MetadataStore
from loopml.stores.metadata.run_store import MAX_SERIES_POINTS
from tests.contract.metadata_check_data import new_experiment, new_run

LONG = 20_000
SPIKE_STEP, DIP_STEP = 12_345, 4_321
CHUNK = 2_000  # points per batch (well under the server's request size limit)


def _log(store: MetadataStore, run_id: str, points: list[Metric]) -> None:
    for start in range(0, len(points), CHUNK):
        store.log_batch(run_id, metrics=points[start : start + CHUNK])


def _wave(step: int) -> float:
    if step == SPIKE_STEP:
        return 1_000.0
    if step == DIP_STEP:
        return -1_000.0
    return math.sin(step / 500)


def check_long_history_is_thinned_keeping_ends_and_extremes(store: MetadataStore) -> None:
    run = new_run(store, new_experiment(store))
    _log(store, run.id, [Metric("loss", _wave(s), s, 1_000 + s) for s in range(LONG)])
    for asked in (1_000, 101, 2):
        series = store.get_metric_series(run.id, "loss", max_points=asked)
        assert series.key == "loss" and series.total == LONG and series.downsampled
        steps = [m.step for m in series.points]
        assert 2 <= len(steps) <= asked
        assert steps == sorted(steps) and len(set(steps)) == len(steps)
        assert steps[0] == 0 and steps[-1] == LONG - 1  # first and last kept
        assert all(m.timestamp == 1_000 + m.step for m in series.points)
        if asked > 4:  # the spike and the dip survive the thinning
            values = [m.value for m in series.points]
            assert max(values) == 1_000.0 and min(values) == -1_000.0
            assert len(steps) > asked // 2  # the buckets are used, not just the ends


def check_short_history_is_returned_whole(store: MetadataStore) -> None:
    run = new_run(store, new_experiment(store))
    points = [Metric("acc", s / 10, s, 50 - s) for s in range(10)]
    points.append(Metric("acc", math.nan, 3, 99))  # same step, later: after the first
    store.log_batch(run.id, metrics=points)
    series = store.get_metric_series(run.id, "acc", max_points=11)
    assert (series.total, series.downsampled) == (11, False)
    history = store.get_metric_history(run.id, "acc")
    assert len(series.points) == len(history) == 11
    assert all(a.same_value(b) for a, b in zip(series.points, history, strict=True))
    empty = store.get_metric_series(run.id, "no-such-key", max_points=10)
    assert (empty.total, empty.downsampled, empty.points) == (0, False, ())


def check_thinned_series_prefers_numbers_to_nan(store: MetadataStore) -> None:
    run = new_run(store, new_experiment(store))
    points = [Metric("m", math.nan if s % 2 else float(s), s, s) for s in range(200)]
    store.log_batch(run.id, metrics=points)
    series = store.get_metric_series(run.id, "m", max_points=20)
    assert series.downsampled and len(series.points) <= 20
    inner = series.points[1:-1]  # the ends are kept whatever they hold
    assert inner and not any(math.isnan(m.value) for m in inner)


def check_series_bounds_and_unknown_run_are_refused(store: MetadataStore) -> None:
    run = new_run(store, new_experiment(store))
    for bad in (1, 0, -5, MAX_SERIES_POINTS + 1, True):
        with pytest.raises(InvalidInputError):
            store.get_metric_series(run.id, "loss", max_points=bad)
    with pytest.raises(NotFoundError):
        store.get_metric_series("0" * 32, "loss", max_points=10)
