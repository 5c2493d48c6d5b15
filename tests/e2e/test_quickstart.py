"""``loopml quickstart`` as a new user runs it: real scikit-learn models, real store."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

import loopml
from loopml.core.config import load_config
from tests.e2e.conftest import QUICKSTART_TIMEOUT, QuickstartProject
from tests.e2e.runner import cli as run_loopml


def cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return run_loopml(*args, cwd=cwd, env=env, timeout=120, columns=120)


def expect_ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


# the quickstart project (tests/e2e/conftest.py) is made by the first test that asks for it
QUICKSTART_TEST_TIMEOUT = 2 * QUICKSTART_TIMEOUT


@pytest.mark.timeout(QUICKSTART_TEST_TIMEOUT)
def test_quickstart_versions_data_and_trains_with_a_cached_pipeline(
    quickstart_project: QuickstartProject, tmp_path: Path
) -> None:
    made, done = quickstart_project.demo, quickstart_project.done
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # --quiet: no progress bar, no warnings
    assert "Training data: breast_cancer@1, added from data/breast_cancer.csv" in done.stdout
    assert "breast_cancer.csv: 455 rows × 31 columns" in done.stdout  # its profile
    assert "Tuned models, evaluated on the held-out split" in done.stdout
    assert "loopml pipeline run training" in done.stdout
    assert str((made / ".loopml").resolve()) in done.stdout
    demo = tmp_path / "demo"  # a copy: the project is shared (tests/e2e/conftest.py)
    shutil.copytree(made, demo, symlinks=True)
    assert (demo / "quickstart_pipeline.py").is_file()

    config = load_config(demo, env={})
    with loopml.Client(store_uri=config.store_uri, artifact_uri=config.artifact_uri) as client:
        (pipeline_run,) = client.search_runs(filter="tags.loopml.pipeline = 'training'")
        assert pipeline_run.status.value == "FINISHED"
        assert pipeline_run.tags["loopml.pipeline_ref"] == "quickstart_pipeline:training"
        inputs = client.metadata.list_dataset_inputs(run_id=pipeline_run.id)
        assert [(i.dataset, i.version) for i in inputs] == [("breast_cancer", 1)]
        steps = {r.name: r for r in client.search_runs(filter=f"attributes.parent_run_id = "
                                                              f"'{pipeline_run.id}'")}  # fmt: skip
        assert set(steps) == {"dataset_version", "features", "search", "search-2", "train",
                              "train-2", "evaluate", "evaluate-2", "choose"}  # fmt: skip
        for name in ("search", "search-2"):  # the tuning search is nested in its step
            (search,) = client.search_runs(filter=f"attributes.parent_run_id = '{steps[name].id}'")
            trials = client.search_runs(filter=f"attributes.parent_run_id = '{search.id}'")
            assert len(list(trials)) == 10
            assert all(0.9 <= t.metrics["objective"] <= 1.0 for t in trials)
            folds = client.get_metric_history(trials[0].id, "roc_auc_fold")
            assert [m.step for m in folds] == [0, 1, 2]
        models = set()
        for name in ("evaluate", "evaluate-2"):
            evaluation = steps[name]
            assert 0.9 <= evaluation.metrics["auc"] <= 1.0 and "f1" in evaluation.metrics
            paths = {a.path for a in client.list_artifacts(evaluation.id)}
            assert {"confusion_matrix.json", "feature_importance.csv"} <= paths
            matrix_file = client.download_artifacts(
                evaluation.id, "confusion_matrix.json", tmp_path / name
            )
            matrix = json.loads(matrix_file.read_text())["matrix"]
            assert sum(map(sum, matrix)) == 114  # the 25% test split of 455 samples
        for name in ("train", "train-2"):
            models.add(steps[name].params["model"])
        assert models == {"logistic_regression", "random_forest"}

    assert "Registered breast-cancer@1 (the runner-up) as the first champion." in done.stdout
    assert "Registered breast-cancer@2 (" in done.stdout
    assert "0 failed; answered by breast-cancer@1 (" in done.stdout  # served, then swapped
    assert "→ breast-cancer@2 (" in done.stdout and "Its prediction log:" in done.stdout
    (champion,) = json.loads(expect_ok(cli("models", "list", "--json", cwd=demo)))
    assert champion["name"] == "breast-cancer" and champion["aliases"] == {"champion": 2}
    shown = json.loads(expect_ok(cli("models", "show", "breast-cancer@champion", "--json",
                                     cwd=demo)))  # fmt: skip
    assert shown["run_id"] == pipeline_run.id and shown["datasets"] == ["breast_cancer@1"]
    assert 0.9 <= shown["metrics"]["auc"] <= 1.0
    inputs = shown["signature"]["inputs"]
    assert inputs == {"kind": "tensor", "dtype": "float64", "shape": [-1, 30],
                      "missing": inputs["missing"]}  # fmt: skip

    again = cli("pipeline", "run", "training", "--json", cwd=demo)
    assert again.returncode == 0, again.stderr
    cached = {step["call"]: step["cached"] for step in json.loads(again.stdout)["steps"]}
    assert cached.pop("dataset_version") is False  # resolved anew, to the same version
    assert set(cached.values()) == {True}  # everything else came from the cache

    shown = cli("data", "show", "breast_cancer", "--json", cwd=demo)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["source"] == "data/breast_cancer.csv"


@pytest.mark.timeout(QUICKSTART_TEST_TIMEOUT)
def test_quickstart_gates_promotes_then_a_bad_batch_fails_its_gate_and_is_rolled_back(
    quickstart_project: QuickstartProject, tmp_path: Path
) -> None:
    said = expect_ok(quickstart_project.done)  # the first run gated @2 against @1, promoted it
    assert "Registered breast-cancer@1 (the runner-up) as the first champion." in said
    assert (
        "Registered breast-cancer@2 (" in said
        and "breast-cancer@champion is now version 2." in said
    )
    demo = tmp_path / "demo"  # a copy: the second run changes the project
    shutil.copytree(quickstart_project.demo, demo, symlinks=True)
    assert (demo / "gates.yaml").is_file()
    (gate,) = json.loads(expect_ok(cli("models", "gates", "breast-cancer@2", "--json", cwd=demo)))
    assert gate["passed"] and gate["dataset"] == "breast_cancer_holdout@1" and gate["against"] == 1
    # the champion answered while the alias moved, nothing lost
    served = re.search(r"([\d,]+) requests answered, (\d+) failed; answered by (.+?)\.\n", said)
    logged = re.search(r"Its prediction log: ([\d,]+) rows", said)
    assert served is not None and logged is not None, said
    answered = int(served[1].replace(",", ""))
    assert served[2] == "0" and int(logged[1].replace(",", "")) == answered > 0
    versions = [move.rsplit(" (", 1)[0] for move in served[3].split(" → ")]
    assert versions == ["breast-cancer@1", "breast-cancer@2"]

    second = json.loads(expect_ok(cli("quickstart", str(demo), "--quiet", "--json", cwd=tmp_path)))
    assert second["dataset"]["ref"] == "breast_cancer@2"  # the mislabelled batch
    assert second["registered"] == "breast-cancer@3" and second["promoted"] is False
    failed = {check["name"] for check in second["gate"]["checks"] if not check["passed"]}
    assert "beats champion on accuracy" in failed and second["gate"]["against"] == 2
    assert "cannot become champion" in second["blocked"] and second["rolled_back"] is True
    assert second["champion"] == 2 and second["first_champion"] is None
    swaps = [label for label, _count in second["serving"]["versions"]]
    assert swaps == ["breast-cancer@2", "breast-cancer@3", "breast-cancer@2"]  # forced, back
    assert second["serving"]["failed"] == 0

    history = json.loads(expect_ok(cli("models", "alias", "history", "breast-cancer", "champion",
                                       "--json", cwd=demo)))  # fmt: skip
    moves = [(h["from_version"], h["to_version"]) for h in history]
    assert moves == [(None, 1), (1, 2), (2, 3), (3, 2)]
    assert history[2]["reason"].startswith("forced: ")
    assert history[3]["reason"] == "breast-cancer@3 failed its gate"

    again = cli("gate", "breast-cancer@3", "--json", cwd=demo)  # the project's gates.yaml
    assert again.returncode == 1, again.stderr
    assert json.loads(again.stdout)["passed"] is False
    blocked = cli("models", "promote", "breast-cancer@3", cwd=demo)
    assert blocked.returncode == 1 and "its last gate under" in blocked.stderr


def test_quickstart_without_scikit_learn_says_what_to_install(tmp_path: Path) -> None:
    blocker = tmp_path / "no-sklearn" / "sklearn"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError('scikit-learn is not installed')\n")
    env = {"PYTHONPATH": str(blocker.parent)}
    result = cli("quickstart", str(tmp_path / "demo"), "--quiet", cwd=tmp_path, env=env)
    assert result.returncode == 2
    assert "pip install 'loopml[sklearn,tune]'" in result.stderr
    assert "Traceback" not in result.stderr


def test_data_only_writes_the_bundled_example_data_and_makes_no_project(tmp_path: Path) -> None:
    done = cli("quickstart", "--data-only", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    train, holdout = (
        tmp_path / "data" / "breast_cancer.csv",
        tmp_path / "data" / "breast_cancer_holdout.csv",
    )
    assert train.read_text(encoding="utf-8").startswith("mean_radius,mean_texture,")
    assert len(train.read_text(encoding="utf-8").splitlines()) == 455 + 1
    assert len(holdout.read_text(encoding="utf-8").splitlines()) == 114 + 1
    assert not (tmp_path / ".loopml").exists()


def test_without_a_folder_the_quickstart_uses_the_project_it_is_run_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from loopml.cli.quickstart import _project_folder
    from loopml.core.config import init_project

    init_project(tmp_path)
    (tmp_path / "notebooks").mkdir()
    monkeypatch.chdir(tmp_path / "notebooks")
    assert _project_folder(None, data_only=False) == (tmp_path.resolve(), False)
    assert _project_folder(tmp_path / "elsewhere", data_only=False) == (
        tmp_path / "elsewhere",
        False,
    )
