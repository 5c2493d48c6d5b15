"""What a newcomer sees of a real ``loopml serve``: once ready it prints requests that fit its
model (pasted into a shell, they are answered), and ``loopml monitor predictions`` scores the
labels sent to it (accuracy of a classifier, MAE and RMSE of a regressor) and says how often
the running servers store their log."""

from __future__ import annotations

import json
import math
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes  # type: ignore[import-untyped]
from sklearn.linear_model import LinearRegression, LogisticRegression  # type: ignore[import-untyped]
from sklearn.pipeline import make_pipeline  # type: ignore[import-untyped]
from sklearn.preprocessing import StandardScaler  # type: ignore[import-untyped]

import loopml.models
from loopml.core.config import init_project
from loopml.tracking.client import Client
from tests.e2e.runner import cli
from tests.fixtures.model_server import ModelServer, start_model_server, wait_until_serving

ROLL = "3600"  # nothing is stored while the servers run: only when they stop
LABELLED = 40
_CURL = re.compile(r"^\s+(curl -s .*)$", re.MULTILINE)


@dataclass
class Served:
    folder: Path
    classifier: ModelServer  # "cancer": an array model, int64 classes
    regressor: ModelServer  # "diabetes": a table model, float64 predictions
    cancer_x: np.ndarray
    cancer_y: np.ndarray
    diabetes: Any  # the DataFrame of features
    diabetes_y: np.ndarray


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp("monitor-scores")
    config = init_project(folder)
    x, y = load_breast_cancer(return_X_y=True)
    diabetes = load_diabetes(as_frame=True)
    frame, target = diabetes.data, diabetes.target.to_numpy()
    with Client(config.store_uri, config.artifact_uri) as client:
        classifier = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(x, y)
        loopml.models.register("cancer", classifier, input_example=x[:3], client=client)
        regressor = LinearRegression().fit(frame, target)
        loopml.models.register("diabetes", regressor, input_example=frame.head(3), client=client)
    servers = [
        start_model_server(folder, name, "--log-roll-seconds", ROLL)
        for name in ("cancer", "diabetes")
    ]
    try:
        cancer, diabetes_server = (wait_until_serving(server) for server in servers)
        yield Served(folder, cancer, diabetes_server, x, y, frame, target)
    finally:
        for server in servers:
            server.stop()


def _printed_requests(server: ModelServer) -> list[str]:
    return _CURL.findall(server.log())


def test_serve_prints_requests_that_fit_its_model_once_ready(served: Served) -> None:
    for server, name in ((served.classifier, "cancer"), (served.regressor, "diabetes")):
        lines = _printed_requests(server)
        assert f"ready. Requests that fit {name}@1" in server.log()
        assert len(lines) == 2, server.log()
        for line in lines:  # as a shell would send it
            words = shlex.split(line)
            url, body = words[2], words[words.index("-d") + 1]
            assert url.startswith(server.url)
            answer = httpx.post(url, content=body, headers={"content-type": "application/json"})
            assert answer.status_code == 200, answer.text
            assert answer.headers["x-loopml-model-version"] == f"{name}@1"


def _monitor(served: Served, model: str, *args: str) -> Any:
    done = cli("monitor", "predictions", model, *args, cwd=served.folder)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout) if "--json" in args else done.stdout


def test_monitor_scores_the_labels_and_says_how_often_the_log_is_stored(served: Served) -> None:
    waiting = _monitor(served, "cancer", "--json")
    assert waiting["rows"] == 0
    assert waiting["log_storage"]["running"] == 1
    assert waiting["log_storage"]["roll_seconds"] == float(ROLL)
    assert "1 server is still running" in waiting["log_storage"]["note"]
    assert "every 3600 s (--log-roll-seconds)" in _monitor(served, "cancer")

    rows = list(range(0, 2 * LABELLED, 2))
    classes = _predict_and_label(
        served.classifier, {"inputs": served.cancer_x[rows].tolist()}, served.cancer_y[rows]
    )
    columns = list(served.diabetes.columns)
    values = _predict_and_label(
        served.regressor,
        {
            "dataframe_split": {
                "columns": columns,
                "data": served.diabetes.iloc[rows].values.tolist(),
            }
        },
        served.diabetes_y[rows],
    )
    served.classifier.stop()  # graceful: the log and the labels are stored
    served.regressor.stop()

    cancer = _monitor(served, "cancer", "--json")
    (version,) = cancer["versions"]
    expected = float(np.mean(np.asarray(classes) == served.cancer_y[rows]))
    assert version["task"] == "classification" and version["scored"] == LABELLED
    assert version["accuracy"] == pytest.approx(expected) and version["mae"] is None
    assert cancer["log_storage"]["running"] == 0
    assert "none is running now" in cancer["log_storage"]["note"]
    assert f"accuracy {expected:.3f}" in _monitor(served, "cancer")

    diabetes = _monitor(served, "diabetes", "--json")
    (version,) = diabetes["versions"]
    errors = np.asarray(values) - served.diabetes_y[rows]
    assert version["task"] == "regression" and version["scored"] == LABELLED
    assert version["mae"] == pytest.approx(float(np.mean(np.abs(errors))))
    assert version["rmse"] == pytest.approx(math.sqrt(float(np.mean(errors**2))))
    assert version["accuracy"] is None


def _predict_and_label(server: ModelServer, body: dict[str, Any], truth: np.ndarray) -> list[Any]:
    """The server's predictions for ``body``, with the true outcomes sent as feedback."""
    answer = httpx.post(f"{server.url}/invocations", json=body).json()
    labels = [
        {"prediction_id": pid, "label": value.item()}
        for pid, value in zip(answer["prediction_ids"], truth, strict=True)
    ]
    accepted = httpx.post(f"{server.url}/feedback", json=labels)
    assert accepted.status_code == 200 and accepted.json()["accepted"] == LABELLED
    return list(answer["predictions"])
