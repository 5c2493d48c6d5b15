"""``loopml gate`` scores a version as predict and serve run it: through its ONNX variant when
it has one, the native model with ``--no-onnx``; the result says which, and both give the
same numbers within the tolerance registration checked the ONNX variant against.

The quickstart's data and gate policy, two versions registered with their ONNX variants (the
champion a forest, the challenger a scaled logistic regression, as the quickstart's families),
and ``loopml`` run as a user runs it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import loopml.models
from loopml.cli.quickstart import MODEL, POLICY, POLICY_FILE
from loopml.cli.quickstart_data import DATASET, HOLDOUT, TARGET, write_example_data
from loopml.core.config import Config, init_project
from loopml.data import versions
from loopml.models.onnx import PROBABILITY_TOLERANCE
from loopml.tracking.client import Client
from tests.e2e.runner import cli

CHALLENGER = f"{MODEL}@2"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Config]:
    from sklearn.ensemble import RandomForestClassifier  # type: ignore[import-untyped]
    from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]
    from sklearn.pipeline import make_pipeline  # type: ignore[import-untyped]
    from sklearn.preprocessing import StandardScaler  # type: ignore[import-untyped]

    folder = tmp_path_factory.mktemp("gate-variant")
    config = init_project(folder)
    files = write_example_data(folder)
    (folder / POLICY_FILE).write_text(POLICY, encoding="utf-8")
    table = np.genfromtxt(files.train, delimiter=",", names=True)
    names = [name for name in table.dtype.names or () if name != TARGET]
    x, y = np.column_stack([table[name] for name in names]), table[TARGET].astype(int)
    forest = RandomForestClassifier(n_estimators=20, max_depth=4, random_state=0).fit(x, y)
    logistic = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(x, y)
    with Client(config=config, create=False) as client:
        versions.add(DATASET, files.train, client=client)
        versions.add(HOLDOUT, files.holdout, client=client)
        for model in (forest, logistic):
            loopml.models.register(MODEL, model, input_example=x[:20], onnx=True, client=client)
        loopml.models.set_alias(MODEL, "champion", 1, client=client)
    return folder, config


def gate_json(project: tuple[Path, Config], *options: str) -> dict[str, Any]:
    done = cli("gate", CHALLENGER, "--json", *options, cwd=project[0], timeout=300)
    assert done.returncode in (0, 1), done.stderr[-3000:]  # 1: a check failed, still a result
    result: dict[str, Any] = json.loads(done.stdout)
    return result


@pytest.fixture(scope="module")
def gated(project: tuple[Path, Config]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The challenger's gate result, by default and with --no-onnx (in that order)."""
    return gate_json(project), gate_json(project, "--no-onnx")


def test_gate_scores_the_onnx_variant_by_default_and_the_native_model_on_request(
    project: tuple[Path, Config], gated: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    onnx, native = gated
    assert (onnx["variant"], native["variant"]) == ("onnx", "native")
    assert [c["observed"] for c in onnx["checks"] if c["check"] == "variant"] == ["onnx"]
    assert [c["observed"] for c in native["checks"] if c["check"] == "variant"] == ["native"]
    with Client(config=project[1], create=False) as client:
        stored = client.metadata.list_gate_results(MODEL, 2)
    assert [result.variant for result in stored] == ["onnx", "native"]
    human = cli("gate", CHALLENGER, cwd=project[0], timeout=300)
    assert f"gate {CHALLENGER} (onnx) against v1" in human.stdout, human.stdout


def test_the_onnx_variant_gates_with_the_native_numbers(
    gated: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    onnx, native = gated
    assert onnx["passed"] == native["passed"]
    names = [c["name"] for c in native["checks"]]
    assert [c["name"] for c in onnx["checks"]] == names
    assert {"accuracy", "roc_auc", "beats champion on accuracy"} <= set(names)
    for mine, theirs in zip(onnx["checks"], native["checks"], strict=True):
        if mine["check"] in ("variant", "latency"):
            continue  # what was scored, and how fast: the rest must agree
        assert mine["passed"] == theirs["passed"], (mine, theirs)
        # the labels registration found equal, the probabilities within its tolerance
        assert mine["observed"] == pytest.approx(theirs["observed"], abs=PROBABILITY_TOLERANCE)
