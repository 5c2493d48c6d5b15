"""How the ``loopml`` command line fails: a hint for a mistyped name, the error object on
stdout under ``--json`` (usage errors too), and ``models show`` without Python reprs."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]

import loopml
import loopml.data
import loopml.models
from loopml.core.config import init_project
from loopml.tracking.client import Client
from tests.e2e.runner import cli


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("errors")
    config = init_project(folder)
    table = folder / "churn.csv"
    table.write_text("age,plan,churned\n31,basic,0\n45,pro,1\n27,basic,0\n", encoding="utf-8")
    x = np.array([[31.0], [45.0], [27.0], [52.0]])
    model = LogisticRegression().fit(x, [0, 1, 0, 1])
    with Client(config=config, create=False) as client:
        loopml.data.add("churn-2024", table, client=client)
        with loopml.start_run("fraud-detection", client=client):
            pass
        loopml.models.register(
            "iris-clf", model, input_example=x[:2], metrics={"accuracy": 0.75}, client=client
        )
    return folder


def failed(result: subprocess.CompletedProcess[str], code: int = 2) -> str:
    assert result.returncode == code, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    assert "Traceback" not in result.stderr
    return result.stderr


@pytest.mark.parametrize(
    ("command", "suggestion"),
    [
        (["models", "show", "iris-clff@1"], "Did you mean 'iris-clf'?"),
        (["data", "show", "churn-2042"], "Did you mean 'churn-2024'?"),
        (["runs", "list", "--experiment", "fraud-detektion"], "Did you mean 'fraud-detection'?"),
    ],
)
def test_a_mistyped_name_gets_a_did_you_mean(
    project: Path, command: list[str], suggestion: str
) -> None:
    assert suggestion in failed(cli(*command, cwd=project))


def test_a_name_nothing_resembles_gets_no_hint(project: Path) -> None:
    assert "Did you mean" not in failed(cli("models", "show", "zzzzzz", cwd=project))


def test_json_failures_print_the_error_object_on_stdout(project: Path) -> None:
    missing = cli("models", "show", "nope@champion", "--json", cwd=project)
    failed(missing)
    assert json.loads(missing.stdout)["error"]["code"] == "not_found"
    usage = cli("runs", "list", "--json", "--no-such-flag", cwd=project)
    failed(usage)
    error = json.loads(usage.stdout)["error"]
    assert error["code"] == "usage_error" and "--no-such-flag" in error["message"]


def test_models_show_prints_fields_not_python_reprs(project: Path) -> None:
    result = cli("models", "show", "iris-clf@1", cwd=project)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "metrics:      accuracy 0.75" in out
    assert "inputs:       float64 [-1, 1]" in out
    assert "{" not in out and "[" not in out.replace("[-1, 1]", "").replace("[-1]", "")


def test_help_shows_flags_without_a_value_type(project: Path) -> None:
    result = cli("predict", "--help", cwd=project)
    assert result.returncode == 0 and "--quiet" in result.stdout
    assert "<bool>" not in result.stdout
