"""``loopml models`` as a user runs it: versions registered from Python, then listed, shown,
promoted, rolled back and traced from the shell."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from sklearn.datasets import load_iris  # type: ignore[import-untyped]
from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]

import loopml.models
from loopml.core.config import init_project, load_config
from loopml.tracking.client import Client
from tests.e2e.runner import cli


def expect(result: subprocess.CompletedProcess[str], code: int) -> str:
    assert result.returncode == code, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture
def project(tmp_path: Path) -> Path:
    config = init_project(tmp_path)
    x, y = load_iris(return_X_y=True)
    with Client(config=config, create=False) as client:
        for c in (0.1, 1.0, 10.0):
            model = LogisticRegression(C=c, max_iter=500).fit(x, y)
            loopml.models.register("iris-clf", model, input_example=x[:3], client=client,
                                   metrics={"C": c})  # fmt: skip
    return tmp_path


def test_promote_rollback_and_history_from_the_shell(project: Path) -> None:
    (listed,) = json.loads(expect(cli("models", "list", "--json", cwd=project), 0))
    assert (listed["name"], listed["latest_version"], listed["aliases"]) == ("iris-clf", 3, {})
    for version in (1, 2, 3):
        expect(cli("models", "promote", f"iris-clf@{version}", cwd=project), 0)
    shown = json.loads(expect(cli("models", "show", "iris-clf@champion", "--json", cwd=project), 0))
    assert (
        shown["version"] == 3 and shown["flavor"] == "sklearn" and shown["metrics"] == {"C": 10.0}
    )

    back = cli("models", "rollback", "iris-clf", "--reason", "worse on live data", cwd=project)
    assert "iris-clf@champion: 3 → 2." in expect(back, 0)
    expect(cli("models", "rollback", "iris-clf", cwd=project), 0)  # 2 → 1
    last = cli("models", "rollback", "iris-clf", cwd=project)
    assert "has no earlier version to roll back to" in last.stderr and last.returncode == 2

    history = json.loads(
        expect(cli("models", "alias", "history", "iris-clf", "champion", "--json", cwd=project), 0)
    )
    moves = [(h["from_version"], h["to_version"]) for h in history]
    assert moves == [(None, 1), (1, 2), (2, 3), (3, 2), (2, 1)]
    assert history[3]["reason"] == "worse on live data"

    expect(cli("models", "alias", "set", "iris-clf", "challenger", "3", cwd=project), 0)
    table = expect(cli("models", "versions", "iris-clf", cwd=project), 0)
    assert "champion" in table and "challenger" in table
    compared = json.loads(
        expect(cli("models", "diff", "iris-clf@1", "iris-clf@challenger", "--json", cwd=project), 0)
    )
    assert compared["b"] == "iris-clf@3" and compared["metrics"]["C"]["delta"] == 9.9
    assert "metric C" in expect(cli("models", "diff", "iris-clf@1", "iris-clf@3", cwd=project), 0)
    missing = cli("models", "alias", "set", "iris-clf", "champion", "9", cwd=project)
    assert missing.returncode == 2 and "9" in missing.stderr
    unknown = cli("models", "show", "nope@champion", cwd=project)
    assert unknown.returncode == 2 and "nope" in unknown.stderr


FLOWS = """
import loopml
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression


@loopml.step
def fit(*, c: float = 1.0) -> LogisticRegression:
    x, y = load_iris(return_X_y=True)
    return LogisticRegression(C=c, max_iter=500).fit(x, y)


@loopml.pipeline
def training(c: float = 1.0) -> LogisticRegression:
    return fit(c=c)
"""


def test_a_pipeline_output_is_registered_from_the_shell(tmp_path: Path) -> None:
    init_project(tmp_path)
    (tmp_path / "flows.py").write_text(FLOWS, encoding="utf-8")
    (tmp_path / "rows.csv").write_text("a,b,c,d\n5.1,3.5,1.4,0.2\n6.7,3.0,5.2,2.3\n")
    done = json.loads(expect(cli("pipeline", "run", "flows:training", "--json", cwd=tmp_path), 0))
    args = ("models", "register", "iris-pipe", "--run", done["run_id"][:8], "--step", "fit")
    more = ("--input-example", "rows.csv", "--alias", "challenger", "--json")
    registered = json.loads(expect(cli(*args, *more, cwd=tmp_path), 0))
    assert registered["version"] == 1 and registered["run_id"] == done["run_id"]
    columns = registered["signature"]["inputs"]["columns"]
    assert [c["name"] for c in columns] == ["a", "b", "c", "d"]
    shown = json.loads(expect(cli("models", "show", "iris-pipe@challenger", "--json",
                                  cwd=tmp_path), 0))  # fmt: skip
    assert shown["tree_digest"] == registered["tree_digest"]
    missing = cli("models", "register", "iris-pipe", "--run", done["run_id"], "--step", "nope",
                  cwd=tmp_path)  # fmt: skip
    assert missing.returncode == 2 and "has no step call 'nope'" in missing.stderr


def test_gate_and_approve_from_the_shell(project: Path) -> None:
    x, y = load_iris(return_X_y=True)
    data = project / "iris.csv"
    data.write_text(
        "a,b,c,d,label\n"
        + "".join(f"{','.join(map(str, r))},{t}\n" for r, t in zip(x, y, strict=True)),
        encoding="utf-8",
    )
    expect(cli("data", "add", "iris", str(data), "--quiet", cwd=project), 0)
    bad = project / "bad.yaml"
    bad.write_text("evaluation: {dataset: iris@1, target: label}\nmetrics: {acc: {min: 1}}\n")
    refused = cli("gate", "iris-clf@1", "--policy", str(bad), cwd=project)
    assert refused.returncode == 2 and f"{bad}:2:11: metrics: unknown key 'acc'" in refused.stderr
    policy = project / "gates.yaml"
    policy.write_text(
        "evaluation: {dataset: iris@1, target: label}\n"
        "metrics: {accuracy: {min: 0.9}, f1: {min: 0.9}}\n"
        "promotion: {require_gate: true, require_approval: true}\n"
    )
    gated = expect(cli("gate", "iris-clf@2", cwd=project), 0)
    assert "passed: 2 checks." in gated and "gate iris-clf@2 (native) on iris@1" in gated
    blocked = cli("models", "promote", "iris-clf@2", cwd=project)
    assert blocked.returncode == 1 and "it needs an approval" in blocked.stderr
    expect(cli("models", "approve", "iris-clf@2", "-m", "looked fine", cwd=project), 0)
    assert "iris-clf@champion: — → 2." in expect(
        cli("models", "promote", "iris-clf@2", cwd=project), 0
    )
    (stored,) = json.loads(expect(cli("models", "gates", "iris-clf@2", "--json", cwd=project), 0))
    assert stored["passed"] and stored["variant"] == "native"
    assert [c["name"] for c in stored["checks"]] == ["scored variant", "accuracy", "f1"]
    shown = json.loads(expect(cli("models", "show", "iris-clf@2", "--json", cwd=project), 0))
    assert shown["last_gate"]["passed"] is True and shown["last_gate"]["dataset"] == "iris@1"


def test_models_are_listed_a_page_at_a_time_from_the_shell(project: Path) -> None:
    x, y = load_iris(return_X_y=True)
    with Client(config=load_config(project, env={}), create=False) as client:
        model = LogisticRegression(max_iter=500).fit(x, y)
        loopml.models.register("aaa-clf", model, input_example=x[:3], client=client)
    first = cli("models", "list", "-n", "1", "--json", cwd=project)
    assert [m["name"] for m in json.loads(expect(first, 0))] == ["aaa-clf"]
    hint = first.stderr.strip().rsplit("\n", 1)[-1]
    assert hint.startswith("More models: add --page-token ")
    token = hint.rsplit(" ", 1)[-1]
    rest = cli("models", "list", "-n", "1", "--page-token", token, "--json", cwd=project)
    assert [m["name"] for m in json.loads(expect(rest, 0))] == ["iris-clf"]
    assert "More models" not in rest.stderr
    forged = cli("models", "list", "--page-token", "forged", cwd=project)
    assert forged.returncode == 2 and "page_token" in forged.stderr
