"""A model version that runs code (a ``module:callable``), registered and aliased through the
platform's HTTP API by anyone, is never swapped into a running ``loopml serve`` that was not
started with ``--trust-code``: no code of it runs, the old version keeps answering, and the
refusal is logged, counted and shown in ``/health``. Started with ``--trust-code`` the same
alias is served (with a warning), and without it serving such a version fails at start-up."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import httpx
import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]

import loopml.models
from loopml.core.config import init_project
from loopml.tracking.client import Client
from tests.fixtures.model_server import (
    LOOPML,
    start_model_server,
    wait_for,
    wait_until_serving,
)
from tests.fixtures.server import PlatformServer

SLOW_START = 300.0  # two servers importing scikit-learn side by side on a busy machine

CODE = """
import os
from pathlib import Path

import numpy as np

MARKERS = Path({markers!r})
(MARKERS / f"imported-{{os.getpid()}}").touch()


def predict(inputs):
    (MARKERS / f"called-{{os.getpid()}}").touch()
    return np.zeros(len(inputs))
"""


def _refusals(url: str) -> dict[str, float]:
    text = httpx.get(f"{url}/metrics", timeout=30).text
    return {
        sample.labels["model_version"]: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "loopml_serving_model_refusals_total"
    }


def _refused(url: str, label: str) -> bool:
    response = httpx.get(f"{url}/health", timeout=30)
    return response.status_code == 200 and label in response.json().get("refused", {})


def test_a_code_version_aliased_over_http_is_never_swapped_in_without_trust_code(
    platform_server: PlatformServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    markers = tmp_path / "markers"
    markers.mkdir()
    code = tmp_path / "code"
    code.mkdir()
    (code / "shell_model.py").write_text(CODE.format(markers=str(markers)), encoding="utf-8")
    monkeypatch.syspath_prepend(str(code))
    monkeypatch.setenv("PYTHONPATH", str(code))  # the servers could import it, too
    project = tmp_path / "project"
    init_project(project)
    config = f'server_url = "{platform_server.url}"\n'
    (project / ".loopml" / "config.toml").write_text(config, encoding="utf-8")

    x = np.array([[0.0, 1.0], [1.0, 0.0], [0.5, 0.5], [1.0, 1.0]])
    with Client(server_url=platform_server.url) as remote:
        model = LogisticRegression().fit(x, [0, 1, 0, 1])
        loopml.models.register("churn", model, input_example=x[:2], client=remote)
        loopml.models.set_alias("churn", "champion", 1, client=remote)
        function = loopml.models.PythonFunction("shell_model:predict")
        loopml.models.register("churn", function, input_example=x[:2], client=remote)
    ours = {f"imported-{os.getpid()}"}  # registering imported it here
    assert {p.name for p in markers.iterdir()} == ours

    guarded = start_model_server(project, "churn@champion", "--poll-seconds", "0.1")
    trusting = start_model_server(
        project, "churn@champion", "--poll-seconds", "0.1", "--trust-code"
    )
    try:
        url = wait_until_serving(guarded, SLOW_START).url
        trusting_url = wait_until_serving(trusting, SLOW_START).url
        # anyone who can reach the platform API moves the alias: no credentials needed here
        moved = httpx.put(
            f"{platform_server.url}/api/v1/models/churn/aliases/champion",
            json={"version": 2, "reason": "take over"},
            timeout=30,
        )
        assert moved.status_code == 200, moved.text

        assert wait_for(lambda: _refused(url, "churn@2")), guarded.log()
        answer = httpx.post(f"{url}/invocations", json={"inputs": x.tolist()}, timeout=30)
        assert answer.status_code == 200
        assert answer.json()["model_version"] == "churn@1"
        reason = httpx.get(f"{url}/health", timeout=30).json()["refused"]["churn@2"]
        assert "python_function" in reason and "--trust-code" in reason
        assert _refusals(url) == {"churn@2": 1.0}
        assert "refused version 2" in guarded.log() and "--trust-code" in guarded.log()
        # nothing of it ran in the guarded server (the trusting one may have swapped already)
        trusted = {f"imported-{trusting.process.pid}", f"called-{trusting.process.pid}"}
        assert {p.name for p in markers.iterdir()} - ours <= trusted

        # the server started trusting code follows the alias (and said it would)
        def swapped() -> bool:
            response = httpx.get(f"{trusting_url}/health", timeout=30)
            return response.json().get("model_version") == "churn@2"

        assert wait_for(swapped), trusting.log()
        answer = httpx.post(f"{trusting_url}/invocations", json={"inputs": x.tolist()}, timeout=30)
        assert answer.json()["model_version"] == "churn@2"
        assert f"called-{trusting.process.pid}" in {p.name for p in markers.iterdir()}
        assert "--trust-code" in trusting.log() and "because code is trusted" in trusting.log()
    finally:
        guarded.stop()
        trusting.stop()

    # a server started on the code version without --trust-code refuses at start-up
    started = subprocess.run(
        [str(LOOPML), "serve", "churn@champion", "--port", "0"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
        env={k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")},
    )
    assert started.returncode == 2, started.stderr
    assert "churn@2 is a python_function model" in started.stderr
    assert "--trust-code" in started.stderr
