"""Live monitoring benchmark: one window of 1,000,000 logged predictions summarised.

    .venv/bin/python benchmarks/run_monitor_window.py            # 1,000,000 predictions
    .venv/bin/python benchmarks/run_monitor_window.py --quick    # 100,000

Method:

- A project in a temp folder; a model ``m@1`` registered from a run that read dataset
  ``train@1`` (10,000 rows, 10 numeric features), so each window has a drift reference.
- The log is written as a model server writes it: ``PredictionLog`` with ``loopml serve``'s
  defaults (its spill and upload threads; real Parquet parts rolled every 60 s or 100,000
  rows, stored as run artifacts in the local artifact store), requests of 10 rows with 10
  features each, all in one hour; 10 % of the predictions get labels (one feedback part).
- Timed (in this process, imports done): ``monitor_windows(client, "m@1", window_ms=1h)``
  over that hour, three ways: **cold** (no part summarised yet: every part is read, once),
  **warm** (every part summarised before: the summaries are merged, nothing is read again:
  what a long-running deployment costs per new window), and **late labels** (warm, plus a
  new feedback part of 100,000 labels joined to the parts it judges).
- Wall and CPU time (``time.process_time``: this process, all threads) are both recorded:
  on a shared machine the wall time includes waiting for a core.
- Every report computes traffic, latency p50/p95/p99, error rate, drift of 10 features and
  the prediction against the reference, and accuracy/precision/recall/F1 of the labels.

Output: a table and ``benchmarks/results/monitor-window-<date>.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
HOUR = 3_600_000
FEATURES = 10
ROWS_PER_REQUEST = 10
GOAL_S = 2.0
CPU: list[float] = []  # CPU seconds of each timed report


def _project(folder: Path) -> Any:
    import loopml
    from loopml.core.config import init_project
    from loopml.tracking.client import Client

    config = init_project(folder)
    rng = np.random.default_rng(0)
    train = folder / "train.csv"
    data = rng.normal(0, 1, (10_000, FEATURES))
    header = ",".join(f"f{i}" for i in range(FEATURES))
    train.write_text(
        header + ",y\n" + "".join(",".join(map(str, r)) + f",{int(r[0] > 0)}\n" for r in data),
        encoding="utf-8",
    )
    client = Client(config=config, create=False)
    loopml.data.add("train", train, client=client)
    from sklearn.dummy import DummyClassifier

    with loopml.start_run("train", client=client) as run:
        run.use_dataset("train@1")
        model = DummyClassifier().fit(data[:10], (data[:10, 0] > 0).astype(int))
        loopml.models.register("m", model, input_example=data[:2], run=run, client=client)
    return client


def _write(client: Any, predictions: int, spool: Path, start_ms: int) -> list[str]:
    from loopml.monitoring.log_records import FeedbackEntry, PredictionEntry
    from loopml.monitoring.log_store import SERVER, RunSink, start_log_run
    from loopml.monitoring.prediction_log import PredictionLog
    from loopml.serving.rows import Rows

    run = start_log_run(client, model="m", kind=SERVER, name="serve m")
    log = PredictionLog(RunSink(client, run.id), spool)  # loopml serve's defaults
    log.start()
    rng = np.random.default_rng(1)
    requests = predictions // ROWS_PER_REQUEST
    step = HOUR // requests
    labelled: list[str] = []
    names = [f"f{i}" for i in range(FEATURES)]
    block = rng.normal(0, 1, (ROWS_PER_REQUEST, FEATURES))
    for index in range(requests):
        values = block + index % 7 * 0.01
        table = pa.table({name: values[:, i] for i, name in enumerate(names)})
        prefix = f"{index:012x}{'0' * 20}"
        log.add(PredictionEntry(prefix, f"r{index}", start_ms + index * step, "m@1", "main",
                                float(1 + index % 50) / 10, Rows(table),
                                (values[:, 0] > 0).astype(np.int64)))  # fmt: skip
        if index % 10 == 0:
            labelled.extend(f"{prefix}-{row}" for row in range(ROWS_PER_REQUEST))
    log.add(FeedbackEntry(labelled, [1] * len(labelled), start_ms + HOUR))
    log.close()
    return labelled


def _timed(client: Any, start_ms: int) -> tuple[float, Any]:
    """The wall time of one report, its CPU time (this process, every thread) noted."""
    from loopml.monitoring.windows import monitor_windows

    began, cpu = time.perf_counter(), time.process_time()
    report = monitor_windows(client, "m@1", window_ms=HOUR, since_ms=start_ms,
                             until_ms=start_ms + HOUR)  # fmt: skip
    CPU.append(time.process_time() - cpu)
    return time.perf_counter() - began, report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100,000 predictions")
    args = parser.parse_args()
    predictions = 100_000 if args.quick else 1_000_000
    from loopml.core.ids import now_ms
    from loopml.monitoring.log_records import FeedbackEntry
    from loopml.monitoring.log_store import FEEDBACK_RUN, RunSink, start_log_run
    from loopml.monitoring.prediction_log import PredictionLog

    with tempfile.TemporaryDirectory(prefix="loopml-bench-monitor-") as temporary:
        folder = Path(temporary)
        client = _project(folder)
        start_ms = (now_ms() // HOUR - 1) * HOUR
        began = time.perf_counter()
        labelled = _write(client, predictions, folder / "spool", start_ms)
        written = time.perf_counter() - began
        cold, report = _timed(client, start_ms)
        warm, again = _timed(client, start_ms)
        run = start_log_run(client, model="m", kind=FEEDBACK_RUN, name="late labels")
        late = PredictionLog(RunSink(client, run.id), folder / "spool2", roll_seconds=0.1)
        late.start()
        late.add(FeedbackEntry(labelled, [0] * len(labelled), start_ms + 2 * HOUR))
        late.close()
        with_labels, last = _timed(client, start_ms)
        (window,) = last.windows
        client.close()
    summary = window.to_dict()
    result = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "predictions": predictions,
        "parts": report.parts,
        "write_seconds": written,
        "cold_seconds": cold,
        "warm_seconds": warm,
        "late_labels_seconds": with_labels,
        "cpu_seconds": {"cold": CPU[0], "warm": CPU[1], "late_labels": CPU[2]},
        "load_average": os.getloadavg(),
        "window": summary,
        "parts_read": [report.parts_read, again.parts_read, last.parts_read],
    }
    assert window.rows == predictions and summary["performance"]["labelled"] == len(labelled)
    print(f"{predictions:,} predictions in {report.parts} parts (written in {written:.1f} s)")
    timings = (("cold", cold), ("warm", warm), ("late labels", with_labels))
    for (name, seconds), cpu in zip(timings, CPU, strict=True):
        verdict = "PASS" if seconds <= GOAL_S else "over"
        print(
            f"  {name:<12} {seconds:6.2f} s wall, {cpu:6.2f} s CPU   goal ≤ {GOAL_S:g} s  {verdict}"
        )
    print(f"  load average {os.getloadavg()[0]:.1f} (a shared machine: timings are inflated)")
    RESULTS.mkdir(exist_ok=True)
    stamp = dt.date.today().isoformat() + ("-quick" if args.quick else "")
    (RESULTS / f"monitor-window-{stamp}.json").write_text(
        json.dumps(result, indent=2, default=str), encoding="utf-8"
    )


if __name__ == "__main__":
    main()
