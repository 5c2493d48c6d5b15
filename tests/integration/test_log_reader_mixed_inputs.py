"""One model's prediction log holds parts of a version that takes an array and of one that
takes named columns (the quickstart's champion, then the loop's first model): reading a span
of one of them gives its inputs as logged, reading both gives them as JSON text — never an
Arrow type error. Parts stored as a model server stores them, in a real local store."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from loopml.monitoring.log_reader import read_predictions
from loopml.monitoring.log_records import PREDICTIONS, PredictionEntry, to_table
from loopml.monitoring.log_store import RunSink, start_log_run
from loopml.monitoring.prediction_log import part_folder
from loopml.serving.rows import Rows
from loopml.tracking.client import Client

DAY_MS = 1_796_601_600_000  # 2026-12-07 00:00 UTC
MINUTE = 60_000


def _store_part(client: Client, tmp_path: Path, entry: PredictionEntry, name: str) -> None:
    run = start_log_run(client, model="m", kind="server", name=f"serve-{name}")
    file = tmp_path / f"{name}.parquet"
    pq.write_table(to_table([entry]), file)
    RunSink(client, run.id).put(file, part_folder(PREDICTIONS, entry.time_ms))
    client.flush()


def test_parts_of_array_and_named_column_versions_read_alone_and_together(
    client: Client, tmp_path: Path
) -> None:
    array = PredictionEntry(
        "a" * 32, "r1", DAY_MS + MINUTE, "m@1", "main", 1.0,
        Rows(np.array([[1.0, 2.0], [3.0, 4.0]])), np.array([0, 1]),
    )  # fmt: skip
    named = PredictionEntry(
        "b" * 32, "r2", DAY_MS + 5 * MINUTE, "m@2", "main", 1.0,
        Rows(pa.table({"x": [5.0], "y": [6.0]})), np.array([1]),
    )  # fmt: skip
    _store_part(client, tmp_path, array, "array")
    _store_part(client, tmp_path, named, "named")

    later = read_predictions("m", client, since_ms=DAY_MS + 2 * MINUTE)
    assert later["model_version"].to_pylist() == ["m@2"]
    assert later["inputs"].to_pylist() == [{"x": 5.0, "y": 6.0}]  # as logged

    earlier = read_predictions("m", client, until_ms=DAY_MS + 2 * MINUTE)
    assert earlier["inputs"].to_pylist() == [[1.0, 2.0], [3.0, 4.0]]

    both = read_predictions("m", client, since_ms=DAY_MS, until_ms=DAY_MS + 10 * MINUTE)
    assert both["model_version"].to_pylist() == ["m@1", "m@1", "m@2"]
    inputs = [json.loads(text) for text in both["inputs"].to_pylist()]
    assert inputs == [[1.0, 2.0], [3.0, 4.0], {"x": 5.0, "y": 6.0}]
