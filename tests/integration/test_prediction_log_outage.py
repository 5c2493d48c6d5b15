"""The prediction log against a real remote store that goes down: rows wait in the local
spool (and ``/metrics`` says how many), then are all stored once the store is back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from loopml.core.ids import new_id, now_ms
from loopml.monitoring.log_reader import read_predictions
from loopml.monitoring.log_records import PredictionEntry, prediction_ids
from loopml.monitoring.log_store import SERVER, RunSink, start_log_run
from loopml.monitoring.prediction_log import PredictionLog
from loopml.serving.metrics import LogMetrics
from loopml.serving.rows import Rows
from loopml.tracking.client import Client
from tests.fixtures.model_server import wait_for
from tests.fixtures.server import PlatformServer
from tests.fixtures.server_restarts import PlatformServerRestarts


def _entry(index: int) -> PredictionEntry:
    rows = Rows(np.full((2, 3), float(index)))
    return PredictionEntry(
        new_id(), f"r{index}", now_ms(), "m@1", "main", 0.5, rows, np.array([index, -index])
    )


def _value(metrics: LogMetrics, name: str) -> float:
    return metrics.registry.get_sample_value(name) or 0.0


def test_rows_wait_on_disk_while_the_store_is_down_and_are_all_stored_when_it_is_back(
    platform_server: PlatformServer,
    server_restarts: PlatformServerRestarts,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the spool outlasts any outage; the transport's own retrying would only slow this down
    monkeypatch.setenv("LOOPML_RETRY_BUDGET_S", "0.5")
    client = Client(server_url=platform_server.url)
    run = start_log_run(client, model="m", kind=SERVER, name="serve m")
    metrics = LogMetrics(None)
    log = PredictionLog(
        RunSink(client, run.id),
        tmp_path / "spool",
        flush_seconds=0.05,
        roll_seconds=0.1,
        metrics=metrics,
    )
    log.start()
    entries = [_entry(i) for i in range(300)]
    try:
        for entry in entries[:100]:
            log.add(entry)
        assert wait_for(lambda: log.persisted_rows == 200, timeout=30)

        platform_server.stop()
        for entry in entries[100:]:
            log.add(entry)
        assert wait_for(lambda: _value(metrics, "loopml_serving_log_spooled_rows") == 400, 30)
        assert wait_for(lambda: _value(metrics, "loopml_serving_log_store_failures_total") > 0, 60)
        assert log.persisted_rows == 200 and log.unpersisted_rows() == 400

        server_restarts.start_again(platform_server)
        assert wait_for(lambda: log.persisted_rows == 600, timeout=90)
        assert _value(metrics, "loopml_serving_log_spooled_rows") == 0
        log.close()
        stored = read_predictions("m", client)
    finally:
        log.close()
        client.close()
    expected = [pid for entry in entries for pid in prediction_ids(entry.id_prefix, 2)]
    assert sorted(stored["prediction_id"].to_pylist()) == sorted(expected)
    assert stored["inputs"].to_pylist()[0] == [0.0, 0.0, 0.0]
    assert not (tmp_path / "spool").exists() or not any((tmp_path / "spool").iterdir())
