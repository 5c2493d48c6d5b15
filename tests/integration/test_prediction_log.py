"""The prediction log, canary and shadow traffic of a real ``loopml serve`` process: every
answered row is in the log after SIGTERM (even under load), labels join by prediction id,
a killed server's spooled rows are stored by the next one, a canary takes its share and a
shadow scores every request without ever answering."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pyarrow.parquet as pq
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sklearn.datasets import load_breast_cancer  # type: ignore[import-untyped]
from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]
from sklearn.pipeline import make_pipeline  # type: ignore[import-untyped]
from sklearn.preprocessing import StandardScaler  # type: ignore[import-untyped]

import loopml.models
from loopml.core.config import init_project
from loopml.serving import read_predictions
from loopml.tracking.client import Client
from tests.fixtures.model_server import (
    LOOPML,
    ModelServer,
    start_model_server,
    wait_for,
    wait_until_serving,
)

JSON = {"content-type": "application/json"}
FAST_LOG = ("--log-roll-seconds", "0.2")


@dataclass
class Project:
    folder: Path
    client: Client
    x: np.ndarray
    y: np.ndarray


def _fit(x: np.ndarray, y: np.ndarray) -> Any:
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(x, y)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    """One model per server (so each test reads only its own log); ``split`` and
    ``shadowed`` have a challenger that predicts the opposite class."""
    folder = tmp_path_factory.mktemp("prediction-log")
    config = init_project(folder)
    x, y = load_breast_cancer(return_X_y=True)
    with Client(config.store_uri, config.artifact_uri) as client:
        for name in ("logged", "crashed", "split", "shadowed", "unsplit"):
            first = loopml.models.register(name, _fit(x, y), input_example=x[:3], client=client)
            loopml.models.set_alias(name, "champion", first.version, client=client)
            if name in ("split", "shadowed"):
                second = loopml.models.register(
                    name, _fit(x, 1 - y), input_example=x[:3], client=client
                )
                loopml.models.set_alias(name, "challenger", second.version, client=client)
        yield Project(folder, client, x, y)


@pytest.fixture(scope="module")
def servers(project: Project) -> Iterator[dict[str, ModelServer]]:
    started = {
        "logged": start_model_server(project.folder, "logged@champion", *FAST_LOG),
        "crashed": start_model_server(
            project.folder, "crashed@champion", "--log-roll-seconds", "600"
        ),
        "split": start_model_server(
            project.folder, "split@champion", "--canary", "challenger:50%", *FAST_LOG
        ),
        "shadowed": start_model_server(
            project.folder, "shadowed@champion", "--shadow", "challenger", *FAST_LOG
        ),
        "unsplit": start_model_server(  # its challenger alias is not set
            project.folder, "unsplit@champion", "--canary", "challenger:50%", "--no-log"
        ),
    }
    try:
        yield started
    finally:
        for server in started.values():
            server.stop()


def _serving(servers: dict[str, ModelServer], name: str) -> ModelServer:
    server = wait_until_serving(servers[name])
    servers[name] = server  # a restart on another port replaces it
    return server


def _rows(project: Project, start: int, count: int) -> list[list[float]]:
    return [[float(v) for v in row] for row in project.x[start : start + count]]


@dataclass
class Load:
    """Clients sending rows until the server goes away: what came back 2xx."""

    url: str
    rows: list[list[float]]
    ids: list[str] = field(default_factory=list)
    versions: Counter[str] = field(default_factory=Counter)
    answers: dict[str, Any] = field(default_factory=dict)
    failures: int = 0
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def send(self, offset: int) -> None:
        with httpx.Client(timeout=30) as http:
            index = offset
            while not self.stop.is_set():
                count = 1 + index % 3  # one to three rows per request
                body = {"inputs": [self.rows[(index + k) % len(self.rows)] for k in range(count)]}
                index += 7
                try:
                    response = http.post(f"{self.url}/invocations", json=body)
                except httpx.HTTPError:
                    with self.lock:
                        self.failures += 1
                    if self.stop.wait(0.01):
                        return
                    continue
                if response.status_code != 200:
                    with self.lock:
                        self.failures += 1
                    continue
                content = response.json()
                with self.lock:
                    self.ids.extend(content["prediction_ids"])
                    self.versions[content["model_version"]] += len(content["prediction_ids"])
                    for pid, value in zip(
                        content["prediction_ids"], content["predictions"], strict=True
                    ):
                        self.answers[pid] = value

    def run(self, clients: int, seconds: float) -> None:
        threads = [threading.Thread(target=self.send, args=(i,)) for i in range(clients)]
        for thread in threads:
            thread.start()
        time.sleep(seconds)
        self.stop.set()
        for thread in threads:
            thread.join()


def _stopped(server: ModelServer, sig: int = signal.SIGTERM) -> int:
    server.process.send_signal(sig)
    return server.process.wait(timeout=60)


def _log(project: Project, model: str, traffic: str = "main") -> Any:
    table = read_predictions(model, project.client)
    return table.filter(np.asarray(table["traffic"].to_pylist()) == traffic)


def test_sigterm_under_load_loses_no_logged_prediction_and_labels_join_by_id(
    project: Project, servers: dict[str, ModelServer]
) -> None:
    server = _serving(servers, "logged")
    load = Load(server.url, _rows(project, 0, 50))
    threads = [threading.Thread(target=load.send, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    assert wait_for(lambda: len(load.ids) >= 300, timeout=60)
    labelled = load.ids[:5]
    made_up = [f"{'0' * 32}-0", f"{labelled[0].rsplit('-', 1)[0]}-999999"]
    sent = httpx.post(
        f"{server.url}/feedback",
        json=[{"prediction_id": pid, "label": 1} for pid in [*labelled, *made_up]],
    )
    assert sent.status_code == 200
    assert sent.json() == {"accepted": 5, "unknown": 2, "unknown_ids": made_up}
    none_known = httpx.post(f"{server.url}/feedback", json={"prediction_id": "a-0", "label": 1})
    assert none_known.status_code == 422 and "'a-0'" in none_known.json()["error"]["message"]
    wrong = httpx.post(f"{server.url}/feedback", json={"prediction_id": labelled[0]})
    assert wrong.status_code == 422 and "body.label: missing" in wrong.json()["error"]["message"]

    exit_code = _stopped(server)  # while the clients are still sending
    load.stop.set()
    for thread in threads:
        thread.join()

    assert exit_code == 0, server.log()
    logged = _log(project, "logged")
    assert sorted(logged["prediction_id"].to_pylist()) == sorted(load.ids)
    by_id = dict(zip(logged["prediction_id"].to_pylist(), logged.to_pylist(), strict=True))
    assert all(by_id[pid]["prediction"] == value for pid, value in load.answers.items())
    assert [by_id[pid]["label"] for pid in labelled] == [1] * 5
    some = by_id[load.ids[-1]]
    assert some["model_version"] == "logged@1" and some["latency_ms"] > 0
    assert len(some["inputs"]) == project.x.shape[1]
    runs = project.client.search_runs("serving", filter="tags.`loopml.model` = 'logged'")
    assert [run.status.value for run in runs] == ["FINISHED"]


def test_labels_from_a_file_join_and_bad_files_exit_2(
    project: Project, servers: dict[str, ModelServer], tmp_path: Path
) -> None:
    server = _serving(servers, "shadowed")  # any server logging its own model
    answer = httpx.post(
        f"{server.url}/invocations", json={"inputs": _rows(project, 0, 3)}, timeout=30
    ).json()
    ids = answer["prediction_ids"]
    assert wait_for(lambda: _log(project, "shadowed").num_rows >= 3, timeout=30)
    labels = tmp_path / "labels.csv"
    labels.write_text("id,truth\n" + "".join(f"{pid},{k}\n" for k, pid in enumerate(ids)))

    done = subprocess.run(
        [LOOPML, "feedback", str(labels), "--model", "shadowed", "--id-column", "id",
         "--label-column", "truth", "--json"],
        cwd=project.folder, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert '"matched": 3' in done.stdout and '"rows": 3' in done.stdout
    table = _log(project, "shadowed")
    joined = dict(zip(table["prediction_id"].to_pylist(), table["label"].to_pylist(), strict=True))
    assert [joined[pid] for pid in ids] == [0, 1, 2]

    bad = subprocess.run(
        [LOOPML, "feedback", str(labels), "--model", "shadowed"],
        cwd=project.folder, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert bad.returncode == 2
    assert "no column 'prediction_id'" in bad.stderr and "--id-column" in bad.stderr


def test_a_killed_servers_spooled_predictions_are_stored_by_the_next_server(
    project: Project, servers: dict[str, ModelServer]
) -> None:
    server = _serving(servers, "crashed")
    answers = [
        httpx.post(f"{server.url}/invocations", json={"inputs": [row]}, timeout=30).json()
        for row in _rows(project, 0, 20)
    ]
    spool = project.folder / ".loopml" / "spool" / "serving"
    assert wait_for(lambda: sum(1 for _ in spool.glob("*/predictions.*.parquet")) > 0, 30)
    assert wait_for(lambda: _spooled_rows(server) == 20, 30)
    _stopped(server, signal.SIGKILL)
    assert _log(project, "crashed").num_rows == 0  # nothing was stored before the kill

    successor = wait_until_serving(start_model_server(project.folder, "crashed@champion"))
    try:
        assert wait_for(lambda: _log(project, "crashed").num_rows == 20, timeout=60)
    finally:
        successor.stop()
    stored = set(_log(project, "crashed")["prediction_id"].to_pylist())
    assert stored == {answer["prediction_ids"][0] for answer in answers}


def _spooled_rows(server: ModelServer) -> float:
    return _metric(server, "loopml_serving_log_spooled_rows", {})


def _metric(server: ModelServer, name: str, labels: dict[str, str]) -> float:
    text = httpx.get(f"{server.url}/metrics").text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return 0.0


def test_a_canary_answers_its_share_and_is_counted_and_logged_by_version(
    project: Project, servers: dict[str, ModelServer]
) -> None:
    server = _serving(servers, "split")
    load = Load(server.url, _rows(project, 0, 100))
    load.run(clients=4, seconds=2.0)
    assert load.failures == 0
    assert set(load.versions) == {"split@1", "split@2"}
    share = load.versions["split@2"] / sum(load.versions.values())
    assert 0.3 < share < 0.7
    assert (
        _metric(
            server,
            "loopml_serving_predictions_total",
            {"model_version": "split@2", "traffic": "canary"},
        )
        == load.versions["split@2"]
    )

    assert _stopped(server) == 0
    canary = _log(project, "split", "canary")
    assert canary.num_rows == load.versions["split@2"]
    assert set(canary["model_version"].to_pylist()) == {"split@2"}
    assert _log(project, "split").num_rows == load.versions["split@1"]


def test_a_canary_alias_not_set_yet_leaves_all_traffic_to_the_main_model(
    project: Project, servers: dict[str, ModelServer]
) -> None:
    server = _serving(servers, "unsplit")
    load = Load(server.url, _rows(project, 0, 20))
    load.run(clients=2, seconds=0.5)
    assert load.failures == 0 and set(load.versions) == {"unsplit@1"}
    banner = server.log()
    assert "unsplit@challenger is not set yet: the main model answers every request" in banner
    assert "503" not in banner


def test_a_shadow_scores_every_request_but_never_answers(
    project: Project, servers: dict[str, ModelServer]
) -> None:
    server = _serving(servers, "shadowed")
    rows = _rows(project, 100, 40)
    load = Load(server.url, rows)
    load.run(clients=3, seconds=1.5)
    assert load.failures == 0 and set(load.versions) == {"shadowed@1"}
    assert wait_for(
        lambda: (
            _metric(
                server,
                "loopml_serving_predictions_total",
                {"model_version": "shadowed@2", "traffic": "shadow"},
            )
            >= sum(load.versions.values())
        ),
        timeout=30,
    )

    assert _stopped(server) == 0
    main, shadow = _log(project, "shadowed"), _log(project, "shadowed", "shadow")
    shadow_ids = set(shadow["prediction_id"].to_pylist())
    assert set(load.ids) <= set(main["prediction_id"].to_pylist())
    assert set(load.ids) <= shadow_ids  # scored under the ids the main answers gave
    challenger = loopml.models.load("shadowed@challenger", client=project.client)
    for record in shadow.to_pylist()[:20]:
        expected = challenger.predict(np.asarray([record["inputs"]]))[0]
        assert record["prediction"] == expected and record["model_version"] == "shadowed@2"


def test_monitor_predictions_summarises_the_log_by_version_and_traffic(
    project: Project, servers: dict[str, ModelServer], tmp_path: Path
) -> None:
    if servers["logged"].process.poll() is None:  # run alone: log something first
        server = _serving(servers, "logged")
        answer = httpx.post(f"{server.url}/invocations", json={"inputs": _rows(project, 0, 3)})
        label = {"prediction_id": answer.json()["prediction_ids"][0], "label": 1}
        assert httpx.post(f"{server.url}/feedback", json=label).status_code == 200
        server.stop()
    logged = _log(project, "logged")
    labelled = logged.num_rows - logged["label"].null_count
    out = tmp_path / "log.parquet"
    done = subprocess.run(
        [LOOPML, "monitor", "predictions", "logged", "--json", "--limit", "2", "-o", str(out)],
        cwd=project.folder, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["rows"] == logged.num_rows and summary["labelled"] == labelled > 0
    assert [(v["model_version"], v["traffic"], v["rows"]) for v in summary["versions"]] == [
        ("logged@1", "main", logged.num_rows)
    ]
    newest = summary["newest"]
    assert len(newest) == 2 and newest[-1]["time"].endswith("Z")
    assert pq.read_table(out).num_rows == logged.num_rows

    bad = subprocess.run(
        [LOOPML, "monitor", "predictions", "logged", "--since", "yesterday"],
        cwd=project.folder, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert bad.returncode == 2 and "--since 'yesterday'" in bad.stderr
