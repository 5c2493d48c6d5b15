"""``loopml quickstart`` as a new user runs it: real scikit-learn models, real store."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import loopml
from loopml.core.config import load_config
from tests.e2e.runner import cli as run_loopml


def cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return run_loopml(*args, cwd=cwd, env=env, timeout=120, columns=120)


def test_quickstart_trains_tracks_and_compares_real_models(tmp_path: Path) -> None:
    demo = tmp_path / "demo"
    done = cli("quickstart", str(demo), "--quiet", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # --quiet: no progress bar, no warnings
    assert "best AUC first" in done.stdout
    assert "Training data: breast_cancer@1, added from data/breast_cancer.csv" in done.stdout
    assert "breast_cancer.csv: 569 rows × 31 columns" in done.stdout  # its profile
    assert "loopml runs list --experiment quickstart" in done.stdout
    assert str((demo / ".loopml").resolve()) in done.stdout

    listed = cli("runs", "list", "--experiment", "quickstart", "--json", cwd=demo)
    assert listed.returncode == 0, listed.stderr
    runs = json.loads(listed.stdout)
    finished = [r for r in runs if r["status"] == "FINISHED"]
    assert len(finished) >= 5
    for run in finished:
        assert 0.9 <= run["metrics"]["auc"] <= 1.0, run["name"]
        assert {"accuracy", "f1"} <= set(run["metrics"])
        assert run["params"]["model"] in ("logistic_regression", "random_forest")
    assert {r["params"].get("C") for r in finished} >= {"0.1", "1.0", "10.0"}

    config = load_config(demo, env={})
    with loopml.Client(store_uri=config.store_uri, artifact_uri=config.artifact_uri) as client:
        best = client.search_runs(experiment="quickstart", order_by=["metrics.auc DESC"])[0]
        history = client.get_metric_history(best.id, "auc")
        assert len(history) >= 3 and history[-1].step > history[0].step
        paths = {a.path for a in client.list_artifacts(best.id)}
        assert paths == {"confusion_matrix.json", "feature_importance.csv"}
        matrix = json.loads(
            client.download_artifacts(best.id, "confusion_matrix.json", tmp_path / "dl").read_text()
        )
        assert sum(map(sum, matrix["matrix"])) == 143  # the 25% test split of 569 samples
        # every run trained on the versioned data and says so
        for run in finished:
            inputs = client.metadata.list_dataset_inputs(run_id=run["id"])
            assert [(i.dataset, i.version) for i in inputs] == [("breast_cancer", 1)]
            assert run["params"]["dataset"] == "breast_cancer@1"

    shown = cli("data", "show", "breast_cancer", "--json", cwd=demo)
    assert shown.returncode == 0, shown.stderr
    profile = json.loads(shown.stdout)
    assert profile["source"] == "data/breast_cancer.csv"


def test_quickstart_without_scikit_learn_says_what_to_install(tmp_path: Path) -> None:
    blocker = tmp_path / "no-sklearn" / "sklearn"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError('scikit-learn is not installed')\n")
    env = {"PYTHONPATH": str(blocker.parent)}
    result = cli("quickstart", str(tmp_path / "demo"), "--quiet", cwd=tmp_path, env=env)
    assert result.returncode == 2
    assert "pip install 'loopml[sklearn]'" in result.stderr
    assert "Traceback" not in result.stderr
