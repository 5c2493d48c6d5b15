"""A real ``loopml serve`` logs, beside each classifier prediction, its score: the positive
class's probability for a binary model, the per-class probabilities for a multiclass one,
from the one model call that gave the label (answers unchanged); with the CBPE calibration
``loopml monitor report`` keeps for the version, it publishes the live window's estimated
performance as Prometheus gauges."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pyarrow as pa
import pytest
from sklearn.datasets import load_breast_cancer, load_iris  # type: ignore[import-untyped]
from sklearn.ensemble import RandomForestClassifier  # type: ignore[import-untyped]
from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]
from sklearn.pipeline import make_pipeline  # type: ignore[import-untyped]
from sklearn.preprocessing import StandardScaler  # type: ignore[import-untyped]

import loopml.models
from loopml.core.config import init_project
from loopml.monitoring.cbpe import CBPE, fit_cbpe
from loopml.monitoring.log_reader import read_predictions
from loopml.monitoring.part_summaries import SummaryCache
from loopml.monitoring.window_estimates import Calibration, calibration_path
from loopml.tracking.client import Client
from tests.fixtures.model_server import start_model_server, wait_for, wait_until_serving

ROWS = 25


@dataclass
class Logged:
    folder: Path
    models: dict[str, object]
    inputs: dict[str, np.ndarray]
    answers: dict[str, list[object]]
    estimator: CBPE  # the cancer model's kept calibration
    metrics: str  # the cancer server's /metrics once it estimated


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Logged]:
    folder = tmp_path_factory.mktemp("served-scores")
    config = init_project(folder)
    cancer_x, cancer_y = load_breast_cancer(return_X_y=True)
    iris_x, iris_y = load_iris(return_X_y=True)
    models: dict[str, object] = {
        "cancer": make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(
            cancer_x, cancer_y
        ),
        "iris": RandomForestClassifier(n_estimators=10, random_state=0).fit(iris_x, iris_y),
    }
    inputs = {"cancer": cancer_x[::20][:ROWS], "iris": iris_x[::6][:ROWS]}
    with Client(config=config, create=False) as client:
        for name, model in models.items():
            loopml.models.register(name, model, input_example=inputs[name][:3], client=client)
        # what `loopml monitor report` keeps once the first labels came (held-out rows here)
        held_out = cancer_x[1::2]
        scores = models["cancer"].predict_proba(held_out)[:, 1]  # type: ignore[attr-defined]
        estimator = fit_cbpe(cancer_y[1::2], scores)
        digest = client.metadata.get_model_version("cancer", 1).tree_digest
        path = calibration_path(SummaryCache.for_client(client), "cancer@1", digest)
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps(Calibration(estimator, len(scores), 0, 1).to_dict()))
    answers: dict[str, list[object]] = {}
    metrics = ""
    servers = {
        name: start_model_server(folder, name, "--drift-interval", "0.2") for name in models
    }  # started together
    try:
        for name, server in servers.items():
            wait_until_serving(server)
            for start in range(0, ROWS, 5):  # several requests, micro-batched or not
                body = {"inputs": inputs[name][start : start + 5].tolist()}
                answer = httpx.post(f"{server.url}/invocations", json=body).json()
                answers.setdefault(name, []).extend(answer["predictions"])
        url = f"{servers['cancer'].url}/metrics"
        assert wait_for(lambda: "loopml_serving_estimated_accuracy{" in httpx.get(url).text)
        metrics = httpx.get(url).text
    finally:
        for server in servers.values():  # graceful: the log is stored
            server.process.terminate()
        for server in servers.values():
            server.stop()
    yield Logged(folder, models, inputs, answers, estimator, metrics)


def _log(logged: Logged, name: str) -> Any:
    config = init_project(logged.folder)
    with Client(config.store_uri, config.artifact_uri) as client:
        return read_predictions(name, client)


def test_a_binary_classifier_logs_its_positive_class_probability(logged: Logged) -> None:
    model: Any = logged.models["cancer"]
    rows = logged.inputs["cancer"]
    assert logged.answers["cancer"] == model.predict(rows).tolist()  # answers unchanged
    table = _log(logged, "cancer")
    assert table.num_rows == ROWS and table["score"].type == pa.float64()
    expected = model.predict_proba(rows)[:, 1]
    assert sorted(table["score"].to_pylist()) == pytest.approx(sorted(expected.tolist()))
    for label, score in zip(
        table["prediction"].to_pylist(), table["score"].to_pylist(), strict=True
    ):
        assert label == int(score > 0.5)


def test_a_multiclass_classifier_logs_every_class_probability(logged: Logged) -> None:
    model: Any = logged.models["iris"]
    rows = logged.inputs["iris"]
    assert logged.answers["iris"] == model.predict(rows).tolist()
    table = _log(logged, "iris")
    scores = np.asarray(table["score"].to_pylist())
    assert scores.shape == (ROWS, 3)
    expected = model.predict_proba(rows)
    assert sorted(map(tuple, scores.round(9))) == sorted(map(tuple, expected.round(9)))
    assert (np.argmax(scores, axis=1) == np.asarray(table["prediction"].to_pylist())).all()


def test_the_server_publishes_the_live_windows_estimated_performance(logged: Logged) -> None:
    model: Any = logged.models["cancer"]
    scores = model.predict_proba(logged.inputs["cancer"])[:, 1]
    expected = logged.estimator.estimate(scores)
    published = {
        line.split("{")[0]: float(line.rsplit(" ", 1)[1])
        for line in logged.metrics.splitlines()
        if line.startswith("loopml_serving_estimated_") and 'model_version="cancer@1"' in line
    }
    assert published == pytest.approx(
        {
            "loopml_serving_estimated_accuracy": expected["accuracy"].value,
            "loopml_serving_estimated_roc_auc": expected["roc_auc"].value,
        }
    )
