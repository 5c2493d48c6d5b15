"""Live drift on a real model server (``loopml serve``): rows like the training data leave
the dataset undrifted, shifted rows drift, both read from ``/metrics``'s gauges; a version
with no known reference has no drift gauge and ``/health`` says why. And every metric the
Grafana dashboard queries is exposed by the real model server and platform server."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sklearn.datasets import load_breast_cancer  # type: ignore[import-untyped]
from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]
from sklearn.pipeline import make_pipeline  # type: ignore[import-untyped]
from sklearn.preprocessing import StandardScaler  # type: ignore[import-untyped]

import loopml
import loopml.data
import loopml.models
from loopml.core.config import init_project
from loopml.models.grafana_dashboard import dashboard, queried_metrics
from loopml.tracking.client import Client
from tests.fixtures.model_server import ModelServer, start_model_server, wait_until_serving
from tests.fixtures.server import PlatformServer

WINDOW = 200
WAIT_SECONDS = 120.0
COMPUTED = ("loopml_serving_drift_computed_timestamp_seconds", "")
SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "gauge": ("",),
}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, pd.DataFrame]]:
    """``cancer@champion`` trained (in a run) on dataset version ``cancer-data@1``, and
    ``no-lineage@champion`` registered without a run."""
    folder = tmp_path_factory.mktemp("live-drift")
    config = init_project(folder)
    frame = load_breast_cancer(as_frame=True).frame
    frame.columns = [name.replace(" ", "_") for name in frame.columns]
    features = frame.drop(columns="target")
    table = folder / "cancer.parquet"
    frame.to_parquet(table, index=False)
    with Client(config.store_uri, config.artifact_uri) as client:
        loopml.data.add("cancer-data", table, client=client)
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
        model.fit(features, frame["target"])
        with loopml.start_run("train", client=client) as run:
            run.use_dataset("cancer-data@1")
            version = loopml.models.register(
                "cancer", model, input_example=features.head(5), run=run, client=client
            )
        bare = loopml.models.register(
            "no-lineage", model, input_example=features.head(5), client=client
        )
        for each in (version, bare):
            loopml.models.set_alias(each.model, "champion", each.version, client=client)
    yield folder, features


@pytest.fixture(scope="module")
def server(project: tuple[Path, pd.DataFrame]) -> Iterator[ModelServer]:
    folder, _ = project
    running = start_model_server(
        folder, "cancer@champion", "--drift-window", str(WINDOW), "--drift-interval", "0.2"
    )
    try:
        yield wait_until_serving(running)
    finally:
        running.stop()


def families(url: str) -> list[Any]:
    answer = httpx.get(f"{url}/metrics", timeout=10)
    assert answer.status_code == 200, answer.text
    return list(text_string_to_metric_families(answer.text))


def gauges(url: str, prefix: str = "loopml_serving_drift_") -> dict[tuple[str, str], float]:
    """Drift samples by (name, feature or method or '')."""
    return {
        (s.name, s.labels.get("feature", s.labels.get("method", ""))): s.value
        for family in families(url)
        for s in family.samples
        if s.name.startswith(prefix)
    }


def send(url: str, rows: pd.DataFrame) -> None:
    body = {"dataframe_split": {"columns": list(rows.columns), "data": rows.values.tolist()}}
    answer = httpx.post(f"{url}/invocations", json=body, timeout=30)
    assert answer.status_code == 200, answer.text


def computed_on(url: str, rows: pd.DataFrame) -> dict[tuple[str, str], float]:
    """Send ``rows`` (exactly one window), then the gauges of the second computation that
    ended after they arrived (the first may have started before)."""
    send(url, rows)
    after = time.time()
    for _ in range(2):
        deadline = time.monotonic() + WAIT_SECONDS
        while time.monotonic() < deadline:
            found = gauges(url)
            if found.get(COMPUTED, 0.0) > after:
                after = found[COMPUTED]
                break
            time.sleep(0.05)
        else:
            pytest.fail("live drift was never computed")
    return found


def test_rows_like_the_training_data_do_not_drift_and_shifted_rows_do(
    server: ModelServer, project: tuple[Path, pd.DataFrame]
) -> None:
    _, features = project
    like = features.sample(WINDOW, random_state=1)
    calm = computed_on(server.url, like)
    assert calm[("loopml_serving_drift_window_rows", "")] == WINDOW
    assert calm[("loopml_serving_drift_share", "")] < 0.5
    tested = {key[1] for key in calm if key[0] == "loopml_serving_drift_feature_score"}
    assert tested == set(features.columns)
    assert ("loopml_serving_drift_prediction_score", "ks") in calm or (
        "loopml_serving_drift_prediction_score",
        "chi_square",
    ) in calm

    shifted = like.copy()
    for column in shifted.columns:
        shifted[column] = shifted[column] + 2 * features[column].std()
    moved = computed_on(server.url, shifted)
    assert moved[("loopml_serving_drift_share", "")] == 1.0
    assert moved[("loopml_serving_drift_feature_drifted", "mean_radius")] == 1.0

    health = httpx.get(f"{server.url}/health", timeout=10).json()
    assert health["drift"]["status"] == "on"
    assert "cancer-data@1" in health["drift"]["reference"]
    assert health["drift"]["window_rows"] == WINDOW


def test_a_version_without_a_reference_has_no_drift_gauge_and_health_says_why(
    project: tuple[Path, pd.DataFrame],
) -> None:
    folder, features = project
    running = wait_until_serving(
        start_model_server(folder, "no-lineage@champion", "--drift-interval", "0.1")
    )
    try:
        send(running.url, features.head(20))
        deadline = time.monotonic() + WAIT_SECONDS
        drift: dict[str, Any] = {}
        while time.monotonic() < deadline:
            drift = httpx.get(f"{running.url}/health", timeout=10).json()["drift"]
            if drift["status"] == "off":
                break
            time.sleep(0.1)
        assert drift["status"] == "off"
        assert "no-lineage@1 names no dataset version it was trained on" in drift["reason"]
        assert gauges(running.url) == {}
        assert "live drift of no-lineage@1 is off" in running.log()
    finally:
        running.stop()


def exposed_names(url: str) -> set[str]:
    """Every sample name the server's families can have (a labelled family with no series
    yet is listed by its HELP and TYPE lines)."""
    names: set[str] = set()
    for family in families(url):
        names.update(family.name + suffix for suffix in SUFFIXES.get(family.type, ("",)))
        names.update(sample.name for sample in family.samples)
    return names


def test_every_metric_the_grafana_dashboard_queries_is_exposed_by_the_servers(
    server: ModelServer, platform_server: PlatformServer
) -> None:
    board = dashboard("cancer", "cancer")
    wanted = queried_metrics(board)
    assert {"loopml_serving_drift_share", "loopml_server_requests_total"} <= wanted
    httpx.get(f"{platform_server.url}/api/v1/health", timeout=10)
    exposed = exposed_names(server.url) | exposed_names(platform_server.url)
    assert sorted(wanted - exposed) == []
    # the platform server's failures and the log's backlog are among them
    assert "loopml_server_errors_total" in wanted and "loopml_serving_log_queue_rows" in wanted
