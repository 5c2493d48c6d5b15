"""``loopml monitor report`` over the log a real ``loopml serve`` wrote: requests answered and
refused (the error rate), labels sent to it, a table, ``--json`` and one offline ``--html``
file; bad input exits 2 naming the flag."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]
from sklearn.metrics import accuracy_score  # type: ignore[import-untyped]

import loopml
from loopml.core.config import init_project
from loopml.tracking.client import Client
from tests.e2e.runner import cli
from tests.fixtures.model_server import start_model_server, wait_until_serving


def expect(result: subprocess.CompletedProcess[str], code: int) -> str:
    assert result.returncode == code, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model ``m@champion`` trained on dataset ``train@1``, served once: 30 requests
    answered (20 labelled), 4 refused; the server stopped (its log stored)."""
    folder = tmp_path_factory.mktemp("monitor-report")
    config = init_project(folder)
    rng = np.random.default_rng(3)
    x = rng.normal(0, 1, (400, 2))
    y = (x[:, 0] > 0).astype(int)
    (folder / "train.csv").write_text(
        "a,b,y\n" + "".join(f"{a},{b},{t}\n" for (a, b), t in zip(x, y, strict=True)),
        encoding="utf-8",
    )
    with Client(config=config, create=False) as client:
        loopml.data.add("train", folder / "train.csv", client=client)
        with loopml.start_run("train", client=client) as run:
            run.use_dataset("train@1")
            frame = pd.DataFrame(x, columns=["a", "b"])
            model = LogisticRegression().fit(frame, y)
            version = loopml.models.register(
                "m", model, input_example=frame.head(2), run=run, client=client
            )
        loopml.models.set_alias("m", "champion", version.version, client=client)
    server = wait_until_serving(start_model_server(folder, "m@champion"))
    try:
        answered = []
        for row in rng.normal(0, 1, (30, 2)):
            body = {"dataframe_split": {"columns": ["a", "b"], "data": [row.tolist()]}}
            answer = httpx.post(f"{server.url}/invocations", json=body)
            assert answer.status_code == 200, answer.text
            answered.append((answer.json()["prediction_ids"][0], answer.json()["predictions"][0]))
        for _ in range(4):  # a wrong shape: refused, logged as an error
            body = {"dataframe_split": {"columns": ["a", "c"], "data": [[1.0, 2.0]]}}
            refused = httpx.post(f"{server.url}/invocations", json=body)
            assert refused.status_code == 422
        labels = [{"prediction_id": pid, "label": int(i % 3 == 0)} for i, (pid, _) in
                  enumerate(answered[:20])]  # fmt: skip
        assert httpx.post(f"{server.url}/feedback", json=labels).status_code == 200
    finally:
        server.stop()
    truth = [label["label"] for label in labels]
    (folder / "expected.json").write_text(
        json.dumps({"accuracy": accuracy_score(truth, [p for _, p in answered[:20]])}),
        encoding="utf-8",
    )
    return folder


def test_report_counts_requests_errors_and_scores_labels_as_json_table_and_html(
    project: Path,
) -> None:
    report = json.loads(expect(cli("monitor", "report", "m@champion", "--json", cwd=project), 0))
    window = report["windows"][-1]  # one, unless the requests straddled the hour
    assert {w["model_version"] for w in report["windows"]} == {"m@1"}
    counted = [sum(w[key] for w in report["windows"]) for key in ("requests", "rows", "errors")]
    assert counted == [30, 30, 4]
    if len(report["windows"]) == 1:
        assert window["error_rate"] == pytest.approx(4 / 34)
    assert 0 < window["latency_ms"]["p50"] <= window["latency_ms"]["p99"]
    assert window["drift"]["features"].keys() == {"a", "b"}
    assert window["prediction_drift"] is not None
    expected = json.loads((project / "expected.json").read_text(encoding="utf-8"))
    if len(report["windows"]) == 1:
        assert window["performance"]["labelled"] == 20
        assert window["performance"]["accuracy"] == pytest.approx(expected["accuracy"])
    assert window["estimated_performance"] is None  # estimated (CBPE) later

    by_version = json.loads(expect(cli("monitor", "report", "m@1", "--json", cwd=project), 0))
    assert sum(w["requests"] for w in by_version["windows"]) == 30

    page = project / "report.html"
    table = expect(
        cli("monitor", "report", "m@champion", "--window", "15m", "--since", "2h", "--html",
            str(page), cwd=project), 0,
    )  # fmt: skip
    assert "m@1" in table and "accuracy" in table
    html = page.read_text(encoding="utf-8")
    assert html.count("<svg") >= 4 and "<script" not in html and "<link" not in html
    assert set(re.findall(r"https?://[^'\"]+", html)) == {"http://www.w3.org/2000/svg"}


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["m@champion", "--window", "90s"], "--window '90s'"),
        (["m@champion", "--since", "1h", "--until", "2h"], "--since must be before --until"),
        (["m", "--json"], "name the alias"),
    ],
)
def test_bad_input_exits_2_naming_the_flag(project: Path, args: list[str], said: str) -> None:
    done = cli("monitor", "report", *args, cwd=project)
    assert done.returncode == 2, done.stdout + done.stderr
    assert said in done.stderr
