"""The live window (monitoring/live_drift.py): bounded to its last rows, started afresh by
another version, and compared with a reference by drift.py's tests."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from loopml.core.errors import InvalidInputError
from loopml.monitoring.live_drift import LiveReference, LiveWindow, live_drift, sample_reference
from loopml.monitoring.references import TableSource


def rows(start: int, count: int) -> tuple[pa.Table, np.ndarray]:
    values = np.arange(start, start + count, dtype=np.float64)
    return pa.table({"x": values}), values * 10


def test_the_window_keeps_only_its_last_rows_across_requests() -> None:
    window = LiveWindow(max_rows=5)
    for start in range(0, 40, 4):  # ten requests of four rows
        window.add("m@1", *rows(start, 4))
    version, inputs, predictions = window.snapshot()
    assert version == "m@1" and window.rows == 5
    assert inputs is not None and inputs.column("x").to_pylist() == [35, 36, 37, 38, 39]
    assert list(predictions) == [350, 360, 370, 380, 390]
    assert len(window._parts) <= 2  # memory: whole requests beyond the last rows are let go


def test_a_request_of_another_version_starts_the_window_afresh() -> None:
    window = LiveWindow(max_rows=100)
    window.add("m@1", *rows(0, 10))
    window.add("m@2", *rows(100, 3))
    version, inputs, _ = window.snapshot()
    assert version == "m@2" and inputs is not None and inputs.num_rows == 3


def test_an_empty_window_has_nothing_to_compare_and_a_window_needs_a_row() -> None:
    assert LiveWindow(max_rows=3).snapshot() == (None, None, None)
    with pytest.raises(InvalidInputError, match="at least 1 row"):
        LiveWindow(max_rows=0)


def test_the_reference_is_sampled_once_to_its_bound_and_keeps_the_model_columns() -> None:
    big = pa.table({"x": np.arange(10_000.0), "label": np.zeros(10_000), "y": np.ones(10_000)})
    table, present = sample_reference(
        TableSource.in_memory(big), ["y", "x", "absent"], max_rows=500
    )
    assert present == ("y", "x") and table.num_rows == 500
    assert table.column_names == ["y", "x"]
    with pytest.raises(InvalidInputError, match="has none of the model's input columns"):
        sample_reference(TableSource.in_memory(big), ["absent"], max_rows=5)


def test_a_shifted_window_drifts_and_predictions_are_judged_apart() -> None:
    rng = np.random.default_rng(7)
    reference = LiveReference(
        "ref",
        pa.table({"x": rng.normal(0, 1, 2_000)}),
        ("x",),
        predictions=rng.integers(0, 2, 2_000),
    )
    same = live_drift(reference, pa.table({"x": rng.normal(0, 1, 800)}), rng.integers(0, 2, 800))
    moved = live_drift(reference, pa.table({"x": rng.normal(2, 1, 800)}), np.ones(800, np.int64))
    assert same.share == 0.0 and same.prediction is not None and not same.prediction.drifted
    assert moved.share == 1.0 and moved.prediction is not None and moved.prediction.drifted
