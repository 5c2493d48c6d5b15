"""``loopml pipeline run`` as a user runs it: a module in the project folder, real processes."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from loopml.core.config import init_project
from tests.e2e.runner import cli

PIPELINES = textwrap.dedent(
    """
    import loopml

    @loopml.step
    def numbers(*, count: int = 3) -> list[int]:
        return list(range(1, count + 1))

    @loopml.step
    def power(values: list[int], *, exponent: float = 1.0) -> list[float]:
        return [v ** exponent for v in values]

    @loopml.step
    def total(values: list[float], *, fail: bool = False) -> float:
        print("adding up", len(values), "values")
        if fail:
            raise RuntimeError("asked to fail")
        return sum(values)

    @loopml.pipeline
    def sums(count: int = 3, exponent: float = 1.0, fail: bool = False) -> float:
        return total(power(numbers(count=count), exponent=exponent), fail=fail)

    not_a_pipeline = 42

    from loopml.pipelines import dataset_version

    @loopml.step
    def rows(version: loopml.core.entities.DatasetVersion) -> int:
        return loopml.data.get(f"{version.dataset}@{version.version}").to_arrow().num_rows

    @loopml.pipeline
    def counting(data: str = "iris@latest") -> int:
        return rows(dataset_version(ref=data))
    """
)


def expect(result: subprocess.CompletedProcess[str], code: int) -> str:
    assert result.returncode == code, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture
def project(tmp_path: Path) -> Path:
    init_project(tmp_path)
    (tmp_path / "flows.py").write_text(PIPELINES, encoding="utf-8")
    return tmp_path


def test_run_then_rerun_from_cache_with_params_and_json(project: Path) -> None:
    out = expect(cli("pipeline", "run", "flows:sums", "-p", "count=4", cwd=project), 0)
    assert "3 step(s) ran, 0 cached" in out
    assert "Returned: 10.0" in out  # 1 + 2 + 3 + 4
    first = json.loads(
        expect(cli("pipeline", "run", "flows:sums", "-p", "count=4", "--json", cwd=project), 0)
    )
    assert [s["cached"] for s in first["steps"]] == [True, True, True]
    assert first["params"] == {"count": 4, "exponent": 1.0, "fail": False}
    changed = json.loads(
        expect(
            cli(
                "pipeline",
                "run",
                "flows:sums",
                "-p",
                "count=4",
                "-p",
                "exponent=2",
                "--json",
                cwd=project,
            ),
            0,
        )
    )
    assert [s["cached"] for s in changed["steps"]] == [True, False, False]
    (returned,) = changed["returned"]
    assert (returned["call"], returned["value"]) == ("total", 30.0)  # 1 + 4 + 9 + 16
    runs = json.loads(expect(cli("runs", "list", "--experiment", "sums", "--json", cwd=project), 0))
    parents = [r for r in runs if r.get("tags", {}).get("loopml.pipeline") == "sums"]
    assert len(parents) == 3
    assert all(r["tags"]["loopml.pipeline_ref"] == "flows:sums" for r in parents)


@pytest.mark.parametrize("executor", ["local", "process"])
def test_json_output_stays_clean_of_what_steps_print(project: Path, executor: str) -> None:
    args = ("pipeline", "run", "flows:sums", "--executor", executor, "--no-cache", "--json")
    done = cli(*args, cwd=project)
    document = json.loads(expect(done, 0))  # stdout is the JSON document alone
    assert document["pipeline"] == "sums"
    assert "adding up 3 values" in done.stderr


def test_a_failing_step_exits_1_naming_the_step(project: Path) -> None:
    result = cli("pipeline", "run", "flows:sums", "-p", "fail=true", cwd=project)
    assert result.returncode == 1
    assert "Step 'total' failed after 1 attempt(s): RuntimeError: asked to fail" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["flows:sums", "-p", "count=many"], "The 'count' param of pipeline 'sums' must be int"),
        (["flows:sums", "-p", "colour=red"], "Pipeline 'sums' has no param 'colour'"),
        (["flows:nope"], "Module 'flows' has no 'nope'"),
        (["flows:not_a_pipeline"], "is a int, not a pipeline"),
        (["missing_module:sums"], "Cannot import 'missing_module'"),
        (["flows:"], "A pipeline reference looks like 'package.module:function'"),
        (["flows"], "No pipeline is named 'flows'; named pipelines: none"),
    ],
)
def test_bad_references_and_params_exit_2_before_anything_runs(
    project: Path, args: list[str], message: str
) -> None:
    result = cli("pipeline", "run", *args, cwd=project)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert not list((project / ".loopml" / "artifacts").glob("blobs/*/*"))


def test_pipelines_named_in_loopml_yaml_run_with_their_default_params(project: Path) -> None:
    (project / "loopml.yaml").write_text(
        "pipelines:\n"
        "  squares:\n"
        "    ref: flows:sums\n"
        "    params: {count: 3, exponent: 2}\n"
        "  plain: flows:sums\n",
        encoding="utf-8",
    )
    squares = json.loads(expect(cli("pipeline", "run", "squares", "--json", cwd=project), 0))
    assert squares["params"] == {"count": 3, "exponent": 2.0, "fail": False}
    bigger = json.loads(
        expect(cli("pipeline", "run", "squares", "-p", "count=4", "--json", cwd=project), 0)
    )
    assert bigger["params"]["count"] == 4  # the command line wins
    assert expect(cli("pipeline", "run", "plain", "--json", cwd=project), 0)
    missing = cli("pipeline", "run", "nightly", cwd=project)
    assert missing.returncode == 2
    assert "No pipeline is named 'nightly'; named pipelines: squares, plain." in missing.stderr


def test_a_broken_loopml_yaml_is_named_with_its_line(project: Path) -> None:
    (project / "loopml.yaml").write_text("pipelines:\n  a: [unclosed\n", encoding="utf-8")
    result = cli("pipeline", "run", "a", cwd=project)
    assert result.returncode == 2
    assert f"{project / 'loopml.yaml'}:3:1: not valid YAML" in result.stderr


def test_rerun_reproduces_params_and_the_dataset_version_read(project: Path) -> None:
    (project / "iris.csv").write_text("x\n1\n2\n", encoding="utf-8")
    expect(cli("data", "add", "iris", "iris.csv", cwd=project), 0)
    original = json.loads(
        expect(cli("pipeline", "run", "flows:counting", "--json", cwd=project), 0)
    )
    (project / "iris.csv").write_text("x\n1\n2\n3\n", encoding="utf-8")
    expect(cli("data", "add", "iris", "iris.csv", cwd=project), 0)  # iris@latest moves on

    fresh = json.loads(expect(cli("pipeline", "run", "flows:counting", "--json", cwd=project), 0))
    assert [s["cached"] for s in fresh["steps"]] == [False, False]  # reads iris@2
    again = json.loads(
        expect(cli("pipeline", "rerun", original["run_id"][:8], "--json", cwd=project), 0)
    )
    assert [s["cached"] for s in again["steps"]] == [False, True]  # iris@1 again: cached
    rows_output = {s["call"]: s["output"] for s in again["steps"]}["rows"]
    assert rows_output == {s["call"]: s["output"] for s in original["steps"]}["rows"]
    shown = json.loads(expect(cli("runs", "show", again["run_id"], "--json", cwd=project), 0))
    assert shown["tags"]["loopml.rerun_of"] == original["run_id"]
    assert json.loads(shown["tags"]["loopml.datasets"]) == {"iris@latest": "iris@1"}


def test_rerun_of_a_run_without_a_pipeline_reference_is_refused(project: Path) -> None:
    code = "import loopml\nwith loopml.start_run(experiment='x') as r:\n    print(r.id)\n"
    (project / "plain.py").write_text(code, encoding="utf-8")
    run_id = subprocess.run(
        [sys.executable, "plain.py"], cwd=project, capture_output=True, text=True, check=True
    ).stdout.strip()
    result = cli("pipeline", "rerun", run_id, cwd=project)
    assert result.returncode == 2 and "records no pipeline reference" in result.stderr


def test_tune_searches_a_pipeline_param_with_fixed_ones(project: Path) -> None:
    args = ["tune", "flows:sums", "-s", "exponent=uniform:0:2", "-n", "6", "-p", "count=4"]
    found = json.loads(expect(cli(*args, "--seed", "1", "--json", cwd=project), 0))
    assert len(found["trials"]) == 6
    assert found["best"]["params"]["count"] == 4
    best = max(t["value"] for t in found["trials"])
    assert found["best"]["value"] == best
    assert best == pytest.approx(
        sum(v ** found["best"]["params"]["exponent"] for v in (1, 2, 3, 4))
    )
    shown = json.loads(
        expect(cli("runs", "show", found["best"]["run_id"], "--json", cwd=project), 0)
    )
    assert shown["parent_run_id"] == found["run_id"]


@pytest.mark.parametrize(
    ("space", "message"),
    [
        ("exponent=normal:0:1", "unknown kind 'normal'"),
        ("exponent=uniform:0", "--space exponent='uniform:0': expected"),
        ("nope=uniform:0:1", "Pipeline 'sums' has no param 'nope' to tune"),
        ("count", "--space is NAME="),
    ],
)
def test_tune_refuses_a_bad_space_with_exit_2(project: Path, space: str, message: str) -> None:
    result = cli("tune", "flows:sums", "-s", space, "-n", "2", cwd=project)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
