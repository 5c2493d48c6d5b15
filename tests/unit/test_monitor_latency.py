"""``loopml monitor predictions``: latency percentiles are per request, not per row."""

from __future__ import annotations

import pyarrow as pa

from loopml.cli.monitor import _summary


def test_one_large_request_counts_once_in_the_latency_percentiles() -> None:
    ids = [f"big-{row}" for row in range(10_000)] + [f"small{n}-0" for n in range(9)]
    latencies = [185.0] * 10_000 + [1.0] * 9
    rows = len(ids)
    table = pa.table(
        {
            "prediction_id": ids,
            "model_version": ["m@1"] * rows,
            "traffic": ["main"] * rows,
            "latency_ms": latencies,
            "label": pa.nulls(rows, pa.int64()),
            "time": pa.array([1_700_000_000_000] * rows, pa.timestamp("ms", tz="UTC")),
        }
    )
    (version,) = _summary(table)["versions"]
    assert version["rows"] == 10_009 and version["requests"] == 10
    assert version["latency_ms_p50"] == 1.0
    assert version["latency_ms_p95"] > 1.0
