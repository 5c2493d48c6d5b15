"""Live monitoring windows over a prediction log written by the log's own writer (real Parquet
parts stored as run artifacts), checked against numbers computed independently from the raw
rows (numpy, scikit-learn, ``monitoring.drift.compare`` on the same rows); feedback that
arrives after the windows were summarised is joined, and parts are never summarised twice."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from sklearn.dummy import DummyClassifier  # type: ignore[import-untyped]
from sklearn.metrics import (  # type: ignore[import-untyped]
    accuracy_score,
    f1_score,
    precision_score,
    recall_score,
)

import loopml
from loopml.core.config import init_project
from loopml.core.ids import now_ms
from loopml.monitoring.drift import DriftOptions, compare
from loopml.monitoring.latency_sketch import RELATIVE_ERROR
from loopml.monitoring.log_reader import read_predictions
from loopml.monitoring.log_records import ErrorEntry, FeedbackEntry, PredictionEntry
from loopml.monitoring.log_store import FEEDBACK_RUN, SERVER, RunSink, start_log_run
from loopml.monitoring.prediction_log import PredictionLog
from loopml.monitoring.references import TableSource, resolve_table
from loopml.monitoring.windows import monitor_windows
from loopml.serving.rows import Rows
from loopml.tracking.client import Client

HOUR = 3_600_000
WINDOWS = 3


@dataclass
class Logged:
    client: Client
    start_ms: int  # the first window's start
    errors: list[int]  # per window
    labelled: list[str]  # prediction ids labelled at first


def _write(client: Client, run_id: str, folder: Path, entries: list[Any]) -> None:
    """The entries stored as parts, as a model server's log stores them."""
    log = PredictionLog(RunSink(client, run_id), folder, flush_seconds=0.05, roll_seconds=0.1)
    log.start()
    for entry in entries:
        log.add(entry)
    log.close()


def _requests(start_ms: int, window: int, rng: np.random.Generator) -> Iterator[PredictionEntry]:
    """Requests of 1 to 5 rows over one hour; the last window's feature ``a`` has shifted."""
    for index in range(120):
        rows = int(rng.integers(1, 6))
        shift = 3.0 if window == WINDOWS - 1 else 0.0
        table = pa.table({"a": rng.normal(shift, 1.0, rows), "b": rng.normal(0.0, 1.0, rows)})
        yield PredictionEntry(
            f"{window:02d}{index:04d}{'0' * 26}",
            f"r{window}-{index}",
            start_ms + window * HOUR + index * 29_000,
            "m@1",
            "main",
            float(rng.lognormal(1.0, 0.6)),
            Rows(table),
            rng.integers(0, 2, rows),
        )


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Logged]:
    folder = tmp_path_factory.mktemp("windows")
    config = init_project(folder)
    rng = np.random.default_rng(7)
    train = folder / "train.csv"
    train.write_text(
        "a,b,y\n" + "".join(f"{a},{b},{int(a > 0)}\n" for a, b in rng.normal(0, 1, (3000, 2))),
        encoding="utf-8",
    )
    start_ms = (now_ms() // HOUR - WINDOWS - 1) * HOUR  # where the writer files it: today
    with Client(config=config, create=False) as client:
        loopml.data.add("train", train, client=client)
        with loopml.start_run("train", client=client) as run:
            run.use_dataset("train@1")
            model = DummyClassifier().fit([[0.0, 0.0], [1.0, 1.0]], [0, 1])
            loopml.models.register("m", model, input_example=[[0.0, 0.0]], run=run, client=client)
        server = start_log_run(client, model="m", kind=SERVER, name="serve m")
        entries: list[Any] = []
        errors = []
        for window in range(WINDOWS):
            entries.extend(_requests(start_ms, window, rng))
            errors.append(window + 1)
            entries.extend(
                ErrorEntry(f"bad{window}-{i}", start_ms + window * HOUR + 60_000 * i, "m@1",
                           "main", 1.5, 400 if i else 500, "invalid_input")
                for i in range(window + 1)
            )  # fmt: skip
        ids = [f"{e.id_prefix}-0" for e in entries if isinstance(e, PredictionEntry)]
        labelled = ids[::3]
        labels = rng.integers(0, 2, len(labelled)).tolist()
        entries.append(FeedbackEntry(labelled, labels, start_ms + WINDOWS * HOUR))
        _write(client, server.id, folder / "spool", entries)
        yield Logged(client, start_ms, errors, labelled)


def _report(logged: Logged) -> Any:
    return monitor_windows(
        logged.client,
        "m@1",
        window_ms=HOUR,
        since_ms=logged.start_ms,
        until_ms=logged.start_ms + WINDOWS * HOUR,
    )


def _raw(logged: Logged, window: int) -> Any:
    start = logged.start_ms + window * HOUR
    return read_predictions("m", logged.client, since_ms=start, until_ms=start + HOUR)


def test_traffic_latency_and_errors_match_the_raw_log(logged: Logged) -> None:
    report = _report(logged)
    assert [w.start_ms for w in report.windows] == [
        logged.start_ms + i * HOUR for i in range(WINDOWS)
    ]
    for index, window in enumerate(report.windows):
        raw = _raw(logged, index)
        first = pc.ends_with(raw["prediction_id"], "-0")
        latencies = raw.filter(first)["latency_ms"].to_numpy()
        assert window.rows == raw.num_rows
        assert window.requests == len(latencies) == 120
        assert window.errors == logged.errors[index] and window.server_errors == 1
        assert window.error_rate == pytest.approx(window.errors / (120 + window.errors))
        for q in (0.5, 0.95, 0.99):
            exact = float(np.quantile(latencies, q, method="inverted_cdf"))
            assert window.latency.quantile(q) == pytest.approx(exact, rel=RELATIVE_ERROR)


def test_drift_is_the_drift_of_the_windows_rows_against_the_training_data(
    logged: Logged,
) -> None:
    report = _report(logged)
    reference = resolve_table("models:/m@1", role="reference", client=lambda: logged.client)
    for index, window in enumerate(report.windows):
        raw = _raw(logged, index)
        inputs = raw["inputs"].combine_chunks()
        current = pa.table({"a": inputs.field("a"), "b": inputs.field("b")})
        expected = compare(
            reference, TableSource.in_memory(current), DriftOptions(columns=("a", "b"))
        )
        drift = window.checks.drift
        assert drift is not None and drift["sample_rows"] == raw.num_rows  # all rows: < 5,000
        for column in expected.features:
            assert drift["features"][column.column]["statistic"] == pytest.approx(
                column.statistic, abs=1e-9
            )
        assert drift["drifted_features"] == (["a"] if index == WINDOWS - 1 else [])
    assert report.windows[0].checks.prediction_drift is not None


def _expected_performance(raw: Any) -> dict[str, float]:
    labelled = raw.filter(pc.is_valid(raw["label"]))
    truth = np.asarray(labelled["label"].to_pylist(), dtype=int)
    guess = np.asarray(labelled["prediction"].to_pylist(), dtype=int)
    return {
        "labelled": len(truth),
        "accuracy": accuracy_score(truth, guess),
        "precision": precision_score(truth, guess, zero_division=0),
        "recall": recall_score(truth, guess, zero_division=0),
        "f1": f1_score(truth, guess, zero_division=0),
    }


def test_performance_matches_sklearn_and_late_labels_join_without_rereading_parts(
    logged: Logged, tmp_path: Path
) -> None:
    first = _report(logged)
    for index, window in enumerate(first.windows):
        found = window.checks.performance
        assert found is not None and found["roc_auc"] is None and "no scores" in found["note"]
        for key, value in _expected_performance(_raw(logged, index)).items():
            assert found[key] == pytest.approx(value), key

    # labels for predictions of the first window arrive later, through another run
    late = [pid for pid in _raw(logged, 0)["prediction_id"].to_pylist() if pid.endswith("-1")]
    upload = start_log_run(logged.client, model="m", kind=FEEDBACK_RUN, name="labels")
    _write(logged.client, upload.id, tmp_path / "spool", [
        FeedbackEntry(late, [1] * len(late), logged.start_ms + 5 * HOUR)
    ])  # fmt: skip
    again = _report(logged)
    assert again.parts_read == 1  # the new feedback part only: every other part was summarised
    raw = _raw(logged, 0)
    expected = _expected_performance(raw)
    assert expected["labelled"] > first.windows[0].checks.performance["labelled"]  # type: ignore[index]
    found = again.windows[0].checks.performance
    assert found is not None
    for key, value in expected.items():
        assert found[key] == pytest.approx(value), key
