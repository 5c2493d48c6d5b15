"""The prediction log's threads against a process out of file descriptors (EMFILE, as when
slow clients hold every socket): they never die, retry, say so in their gauges and in
``health()``, and store every row once descriptors are free again."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from loopml.core.ids import new_id, now_ms
from loopml.monitoring.log_records import PredictionEntry
from loopml.monitoring.log_store import SERVER, RunSink, start_log_run
from loopml.monitoring.prediction_log import PredictionLog
from loopml.serving.metrics import LogMetrics
from loopml.serving.rows import Rows
from loopml.tracking.client import Client
from tests.fixtures.model_server import wait_for


def _entry(index: int) -> PredictionEntry:
    rows = Rows(np.full((2, 3), float(index)))
    return PredictionEntry(
        new_id(), f"r{index}", now_ms(), "m@1", "main", 0.5, rows, np.array([index, -index])
    )


def _value(metrics: LogMetrics, name: str, labels: dict[str, str] | None = None) -> float:
    return metrics.registry.get_sample_value(name, labels or {}) or 0.0


@contextmanager
def _no_descriptors_left() -> Iterator[None]:
    """Every file descriptor of this process taken (up to its limit) until the block ends."""
    taken: list[int] = []
    try:
        while True:
            try:
                taken.append(os.open(os.devnull, os.O_RDONLY))
            except OSError:
                break
        yield
    finally:
        for fd in taken:
            os.close(fd)


def test_the_log_threads_survive_running_out_of_file_descriptors(tmp_path: Path) -> None:
    client = Client(store_uri=f"sqlite:///{tmp_path / 'meta.db'}", artifact_uri=str(tmp_path))
    run = start_log_run(client, model="m", kind=SERVER, name="serve m")
    metrics = LogMetrics(None)
    log = PredictionLog(
        RunSink(client, run.id),
        tmp_path / "spool",
        flush_seconds=0.05,
        roll_seconds=0.1,
        stuck_seconds=0.2,
        metrics=metrics,
    )
    log.start()
    try:
        log.add(_entry(0))
        assert wait_for(lambda: log.persisted_rows == 2, timeout=30)
        with _no_descriptors_left():
            for index in range(1, 51):
                log.add(_entry(index))
            assert wait_for(
                lambda: (
                    _value(metrics, "loopml_serving_log_thread_errors_total", {"thread": "upload"})
                    >= 2
                ),
                timeout=30,
            )
            assert wait_for(lambda: log.health().stuck, timeout=30)
            health = log.health()
        assert health.unsent_rows == 100
        assert health.problem is not None and "Too many open files" in health.problem
        assert wait_for(lambda: log.persisted_rows == 102, timeout=60)
        assert wait_for(lambda: not log.health().stuck, timeout=30)
        assert wait_for(lambda: _value(metrics, "loopml_serving_log_spooled_rows") == 0, 30)
        assert _value(metrics, "loopml_serving_log_queue_rows") == 0
        assert (
            _value(metrics, "loopml_serving_log_dropped_rows_total", {"kind": "predictions"}) == 0
        )
    finally:
        log.close()
        client.close()
