"""Live monitoring windows over a log stored in S3 (a moto server on loopback): parts are
opened in place through the store's filesystem (ranged reads of the columns needed), not
downloaded whole, and summarised once."""

from __future__ import annotations

import io
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from loopml.core.hashing import Digest
from loopml.core.ids import now_ms
from loopml.monitoring import log_parts
from loopml.monitoring.log_reader import read_predictions
from loopml.monitoring.log_records import PREDICTIONS, PredictionEntry
from loopml.monitoring.log_store import SERVER, RunSink, start_log_run
from loopml.monitoring.prediction_log import PredictionLog
from loopml.monitoring.windows import monitor_windows
from loopml.serving.rows import Rows
from loopml.tracking.client import Client

HOUR = 3_600_000


def _wait_until_persisted(log: PredictionLog, rows: int, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while log.persisted_rows < rows:
        assert time.monotonic() < deadline, f"{log.persisted_rows} of {rows} rows stored"
        time.sleep(0.02)


def test_windows_read_parts_in_place_from_s3(s3_artifact_uri: str, tmp_path: Path) -> None:
    client = Client(f"sqlite:///{tmp_path / 'store.db'}", s3_artifact_uri)
    start_ms = (now_ms() // HOUR - 2) * HOUR
    rng = np.random.default_rng(5)
    run = start_log_run(client, model="m", kind=SERVER, name="serve m")
    log = PredictionLog(RunSink(client, run.id), tmp_path / "spool", flush_seconds=0.05,
                        roll_seconds=0.1, roll_rows=150)  # fmt: skip
    log.start()
    for index in range(200):
        if index == 100:  # the first half stored before the second is logged: two parts at least
            _wait_until_persisted(log, 300)
        rows = Rows(pa.table({"x": rng.normal(0, 1, 3)}))
        log.add(
            PredictionEntry(
                f"{index:06d}{'0' * 26}",
                f"r{index}",
                start_ms + index * 30_000,
                "m@1",
                "main",
                float(index % 17 + 1),
                rows,
                rng.integers(0, 2, 3),
            )
        )
    log.close()  # fmt: skip

    parts = log_parts.log_parts(client, "m", PREDICTIONS)
    assert len(parts) >= 2
    opened = log_parts._open(client, Digest.parse(parts[0].digest))
    with opened:
        assert not isinstance(opened, io.BytesIO)  # a file on S3, read by ranges

    report = monitor_windows(client, "m@1", window_ms=HOUR, since_ms=start_ms,
                             until_ms=start_ms + 2 * HOUR)  # fmt: skip
    raw = read_predictions("m", client, since_ms=start_ms, until_ms=start_ms + 2 * HOUR)
    assert sum(w.rows for w in report.windows) == raw.num_rows == 600
    assert sum(w.requests for w in report.windows) == 200
    first = raw.filter(pc.less(raw["time"].cast(pa.int64()), start_ms + HOUR))
    assert report.windows[0].rows == first.num_rows
    assert report.parts_read == report.parts == len(parts)
    again = monitor_windows(client, "m@1", window_ms=HOUR, since_ms=start_ms,
                            until_ms=start_ms + 2 * HOUR)  # fmt: skip
    assert again.parts_read == 0  # summarised once, kept
    assert [w.to_dict() for w in again.windows] == [w.to_dict() for w in report.windows]
    client.close()
