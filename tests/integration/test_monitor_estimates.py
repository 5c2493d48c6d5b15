"""Performance before labels (CBPE) and decay seen by labels (a River detector) in monitoring
windows, over a prediction log written by the log's own writer: a real classifier (breast
cancer, scikit-learn's table) scores a stream of held-out rows, the serving scorer gives the
scores, labels are fed back a minute after each prediction, and from a known hour on the label
relation changes (concept drift); the last hour's labels have not come. The first requests
come from an older server that logged no scores: the report reads them too."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer  # type: ignore[import-untyped]
from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]
from sklearn.pipeline import make_pipeline  # type: ignore[import-untyped]
from sklearn.preprocessing import StandardScaler  # type: ignore[import-untyped]

import loopml
from loopml.core.config import init_project
from loopml.core.ids import now_ms
from loopml.loop.signals import check_signal
from loopml.monitoring.log_records import FeedbackEntry, PredictionEntry
from loopml.monitoring.log_store import SERVER, RunSink, start_log_run
from loopml.monitoring.prediction_log import PredictionLog
from loopml.monitoring.windows import WindowsReport, monitor_windows
from loopml.serving.rows import Rows
from loopml.serving.scoring import Scorer
from loopml.tracking.client import Client

HOUR = 3_600_000
WINDOWS = 6
DRIFT_WINDOW = 4  # from this hour on, 15% of the labels are the other class
REQUESTS, ROWS = 100, 5  # per window
UNSCORED = 20  # the first requests, logged by an older server: no score column


@dataclass
class Stream:
    client: Client
    folder: Path
    start_ms: int
    drift_index: int  # the position of the first drifted label in the label stream


@pytest.fixture(scope="module")
def stream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stream]:
    folder = tmp_path_factory.mktemp("estimates")
    config = init_project(folder)
    x, y = load_breast_cancer(return_X_y=True)
    rng = np.random.default_rng(3)
    order = rng.permutation(len(y))
    train, held_out = order[:285], order[285:]
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    model.fit(x[train], y[train])
    scorer = Scorer.for_predictor(model, "native")
    start_ms = (now_ms() // HOUR - WINDOWS - 1) * HOUR
    with Client(config=config, create=False) as client:  # its cache: the project's
        loopml.models.register("cancer", model, input_example=x[:3], client=client)
        entries: list[Any] = []
        for window in range(WINDOWS):
            for index in range(REQUESTS):
                rows = rng.choice(held_out, ROWS)
                labels, scores = scorer.predict(x[rows])
                at = start_ms + window * HOUR + index * 30_000
                prefix = f"{window:02d}{index:04d}{'0' * 26}"
                old = window == 0 and index < UNSCORED
                entries.append(
                    PredictionEntry(
                        prefix,
                        prefix,
                        at,
                        "cancer@1",
                        "main",
                        2.0,
                        Rows(x[rows]),
                        labels,
                        None if old else scores,
                    )
                )
                truth = y[rows].copy()
                if window >= DRIFT_WINDOW:
                    flip = rng.random(ROWS) < 0.15
                    truth[flip] = 1 - truth[flip]
                ids = [f"{prefix}-{row}" for row in range(ROWS)]
                if window < WINDOWS - 1:  # the last hour's labels have not come yet
                    entries.append(FeedbackEntry(ids, truth.tolist(), at + 60_000))
        server = start_log_run(client, model="cancer", kind=SERVER, name="serve cancer")
        log = PredictionLog(RunSink(client, server.id), folder / "spool", flush_seconds=0.05,
                            roll_seconds=3600)  # fmt: skip
        log.start()
        for entry in entries:
            log.add(entry)
        log.close()
        yield Stream(client, folder, start_ms, DRIFT_WINDOW * REQUESTS * ROWS)


def _report(stream: Stream) -> WindowsReport:
    return monitor_windows(
        stream.client,
        "cancer@1",
        window_ms=HOUR,
        since_ms=stream.start_ms,
        until_ms=stream.start_ms + WINDOWS * HOUR,
    )


def test_estimated_performance_is_near_the_realised_before_the_labels_drift(
    stream: Stream,
) -> None:
    report = _report(stream)
    assert len(report.windows) == WINDOWS
    first = report.windows[0].checks.estimated_performance
    assert first is not None and first["rows"] == (REQUESTS - UNSCORED) * ROWS  # old rows read
    assert first["in_calibration"] and first["calibration"]["rows"] == 1_000
    calibrated = [w.checks.estimated_performance["in_calibration"] for w in report.windows]  # type: ignore[index]
    assert calibrated == [True, True, True] + [False] * (WINDOWS - 3)  # the first 1,000 labels
    for window in report.windows[3:DRIFT_WINDOW]:  # out of the calibration, before the drift
        found = window.checks.estimated_performance
        assert found is not None
        assert found["labelled"] == REQUESTS * ROWS
        for metric in ("accuracy", "roc_auc"):
            error = found["errors"][metric]
            assert abs(error["error"]) < 0.03, (metric, error)
            assert error["realised"] == pytest.approx(window.checks.performance[metric])  # type: ignore[index]
        signals = window.signals()
        assert signals["estimated_accuracy"] == found["metrics"]["accuracy"]["value"]
        assert signals["estimated_roc_auc"] == found["metrics"]["roc_auc"]["value"]
    # concept drift does not move the scores: the estimate stays, the realised accuracy falls
    drifted = report.windows[DRIFT_WINDOW].checks.estimated_performance
    assert drifted is not None and drifted["errors"]["accuracy"]["error"] > 0.08


def test_a_window_whose_labels_have_not_come_has_an_estimate_and_no_realised_value(
    stream: Stream,
) -> None:
    last = _report(stream).windows[-1]
    found = last.checks.estimated_performance
    assert last.checks.performance is None and found is not None
    assert found["rows"] == REQUESTS * ROWS and found["labelled"] == 0
    assert found["realised"] is None and found["errors"] is None
    signals = last.signals()
    assert signals["accuracy"] is None and signals["concept_drift"] is None
    assert 0.8 < signals["estimated_accuracy"] < 1.0  # type: ignore[operator]


def test_decay_is_detected_after_the_drift_point_and_never_before(stream: Stream) -> None:
    report = _report(stream)
    decays = [window.checks.concept_drift for window in report.windows]
    assert decays[-1] is None  # no labels yet
    decays = decays[:-1]
    assert all(d is not None and d["detector"] == "adwin" for d in decays)
    assert [d["decayed"] for d in decays[:DRIFT_WINDOW]] == [False] * DRIFT_WINDOW  # type: ignore[index]
    assert decays[DRIFT_WINDOW]["decayed"]  # type: ignore[index]
    first = min(
        d["index"]
        for found in decays
        for d in found["detections"]  # type: ignore[index]
        if d["direction"] == "up"
    )
    delay = first - stream.drift_index
    assert 0 <= delay < REQUESTS * ROWS  # in labels after the drift point (docs/monitoring.md)
    signals = [window.signals()["concept_drift"] for window in report.windows[:-1]]
    assert signals[:DRIFT_WINDOW] == [0.0] * DRIFT_WINDOW and signals[DRIFT_WINDOW] == 1.0
    for name in ("concept_drift", "estimated_accuracy", "estimated_roc_auc"):
        assert check_signal(name) == ""


def test_the_calibration_and_the_detector_are_kept_as_json_and_fed_once(stream: Stream) -> None:
    first = _report(stream)
    cache = stream.folder / ".loopml" / "cache" / "monitor"
    (kept_cbpe,) = (cache / "cbpe").iterdir()
    (kept_detector,) = (cache / "decay").iterdir()
    assert json.loads(kept_cbpe.read_text())["rows"] == 1_000
    state = json.loads(kept_detector.read_text())
    labelled = (WINDOWS - 1) * REQUESTS * ROWS
    assert state["state"]["seen"] == labelled
    again = _report(stream)
    assert json.loads(kept_detector.read_text())["state"]["seen"] == labelled  # fed once
    for before, after in zip(first.windows, again.windows, strict=True):
        assert after.checks.concept_drift == before.checks.concept_drift
        assert after.checks.estimated_performance == before.checks.estimated_performance


def test_the_html_report_plots_estimated_beside_realised_and_marks_decay(stream: Stream) -> None:
    from loopml.monitoring.window_html import render

    page = render(_report(stream))
    assert "accuracy: estimated and realised" in page and "ROC AUC: estimated and realised" in page
    assert page.count("<title>decay detected</title>") == 2  # one rule per plot: one window
    assert "DECAY (adwin)" in page and "no decay (adwin)" in page
