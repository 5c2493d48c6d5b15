"""``loopml predict`` as a user runs it: a model registered from Python, a CSV scored into
Parquet from the shell, the run found again with ``loopml runs show``, and bad input refused
with exit 2 and nothing written."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest
from sklearn.datasets import load_breast_cancer  # type: ignore[import-untyped]
from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]
from sklearn.pipeline import make_pipeline  # type: ignore[import-untyped]
from sklearn.preprocessing import StandardScaler  # type: ignore[import-untyped]

import loopml.models
from loopml.core.config import init_project
from loopml.tracking.client import Client
from tests.e2e.runner import cli


def expect(result: subprocess.CompletedProcess[str], code: int) -> str:
    assert result.returncode == code, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result.stdout


def test_predict_scores_a_csv_into_parquet_and_records_a_run(tmp_path: Path) -> None:
    config = init_project(tmp_path)
    x, y = load_breast_cancer(return_X_y=True)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(x, y)
    with Client(config=config, create=False) as client:
        loopml.models.register("cancer", model, input_example=x[:5], client=client)
        loopml.models.set_alias("cancer", "champion", 1, client=client)
    names = [f"f{i}" for i in range(x.shape[1])]
    pa_csv.write_csv(pa.table(dict(zip(names, x.T, strict=True))), tmp_path / "rows.csv")

    args = ("predict", "cancer@champion", "--input", "rows.csv", "--output", "scores.parquet")
    document = json.loads(expect(cli(*args, "--json", cwd=tmp_path), 0))
    assert document["rows"] == len(x) and document["model"] == "cancer@1"
    assert document["columns"] == ["prediction", "probability_0", "probability_1"]
    out = pq.read_table(tmp_path / "scores.parquet")
    assert np.array_equal(out["prediction"].to_numpy(), model.predict(x))
    run = json.loads(expect(cli("runs", "show", document["run_id"], "--json", cwd=tmp_path), 0))
    assert run["experiment"] == "batch-scoring" and run["status"] == "FINISHED"
    assert run["params"]["model"] == "cancer@1" and run["metrics"]["rows"] == len(x)

    shown = expect(cli(*args[:4], "--output", "again.csv", "--quiet", cwd=tmp_path), 0)
    assert f"Scored {len(x):,} rows with cancer@1 (native)" in shown
    assert "again.csv" in shown and "rows/s" in shown
    assert pa_csv.read_csv(tmp_path / "again.csv").num_rows == len(x)

    pa_csv.write_csv(pa.table({"f0": x[:, 0]}), tmp_path / "narrow.csv")
    bad = cli("predict", "cancer@1", "-i", "narrow.csv", "-o", "bad.parquet", cwd=tmp_path)
    assert bad.returncode == 2 and "takes [30] features per row" in bad.stderr
    assert "narrow.csv" in bad.stderr
    missing = cli("predict", "cancer@1", "-i", "nope.csv", "-o", "bad.parquet", cwd=tmp_path)
    assert missing.returncode == 2 and "nope.csv: no such file or folder" in missing.stderr
    unknown = cli("predict", "cancer@1", "-i", "rows.csv", "-o", "bad.txt", cwd=tmp_path)
    assert unknown.returncode == 2 and "--format parquet|csv" in unknown.stderr
    assert not (tmp_path / "bad.parquet").exists() and not (tmp_path / "bad.txt").exists()


def test_a_python_function_version_is_scored_only_with_trust_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code = tmp_path / "code"
    code.mkdir()
    marker = tmp_path / "ran"
    (code / "summing.py").write_text(
        "from pathlib import Path\nimport numpy as np\n\n\ndef predict(inputs):\n"
        f"    Path({str(marker)!r}).touch()\n    return np.asarray(inputs).sum(axis=1)\n",
        encoding="utf-8",
    )
    config = init_project(tmp_path)
    monkeypatch.syspath_prepend(str(code))  # registering imports the reference
    with Client(config=config, create=False) as client:
        function = loopml.models.PythonFunction("summing:predict")
        loopml.models.register("scorer", function, input_example=np.ones((2, 2)), client=client)
    pa_csv.write_csv(pa.table({"a": [1.0, 2.0], "b": [3.0, 4.0]}), tmp_path / "rows.csv")
    args = ("predict", "scorer@1", "-i", "rows.csv", "-o", "scores.csv", "-q")
    env = {"PYTHONPATH": str(code)}

    refused = cli(*args, cwd=tmp_path, env=env, timeout=300)
    assert refused.returncode == 2, refused.stderr
    assert "scorer@1" in refused.stderr and "--trust-code" in refused.stderr
    assert not marker.exists() and not (tmp_path / "scores.csv").exists()

    trusted = cli(*args, "--trust-code", cwd=tmp_path, env=env, timeout=300)
    expect(trusted, 0)
    assert "because code is trusted" in trusted.stderr
    assert marker.exists()
    assert pa_csv.read_csv(tmp_path / "scores.csv")["prediction"].to_pylist() == [4.0, 6.0]
