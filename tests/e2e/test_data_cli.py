"""``loopml data`` as a user runs it: the real console script over a real SQLite project."""

from __future__ import annotations

import json
import re
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from loopml.core.config import init_project
from tests.e2e.runner import cli

IRIS = "sepal,species\n" + "".join(  # 24 rows: enough for an inferred range of sepal
    f"{4.5 + 0.1 * i:.1f},{('setosa', 'virginica')[i % 2]}\n" for i in range(24)
)
GOOD = "sepal,species\n5.0,setosa\n6.0,virginica\n"
BAD = "sepal,species\n5.0,setosa\n99.5,virginica\n"  # far above the sepal seen in iris@1


def expect(result: subprocess.CompletedProcess[str], code: int) -> str:
    assert result.returncode == code, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture
def project(tmp_path: Path) -> Path:
    init_project(tmp_path)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "iris.csv").write_text(IRIS, encoding="utf-8")
    (tmp_path / "good.csv").write_text(GOOD, encoding="utf-8")
    (tmp_path / "bad.csv").write_text(BAD, encoding="utf-8")
    return tmp_path


def run_all(project: Path, *commands: tuple[str, ...]) -> list[subprocess.CompletedProcess[str]]:
    """Run independent commands at once (each is a real process; this keeps the suite fast)."""
    with ThreadPoolExecutor(max_workers=len(commands)) as pool:
        return list(pool.map(lambda args: cli(*args, cwd=project), commands))


def test_add_list_show_log_get_and_rm(project: Path) -> None:
    out = expect(cli("data", "add", "iris", "data/iris.csv", "-m", "first", cwd=project), 0)
    assert f"Created iris@1 (1 file, {len(IRIS)} B)" in out
    out = expect(cli("data", "add", "iris", "data/iris.csv", cwd=project), 0)
    assert "No change: iris@1 already has this content" in out
    (project / "data" / "notes.txt").write_text("measured by hand\n", encoding="utf-8")
    out = expect(cli("data", "add", "iris", "data", "-q", cwd=project), 0)
    assert "Created iris@2 (2 files" in out

    listed, log, shown, got, refused, helped = run_all(
        project,
        ("data", "list", "--json"),
        ("data", "log", "iris", "--json"),
        ("data", "show", "iris@1"),
        ("data", "get", "iris@1", "--to", "restored"),
        ("data", "rm", "iris@1"),  # no terminal to confirm on
        ("data", "add", "--help"),
    )
    datasets = json.loads(expect(listed, 0))
    assert [(d["dataset"], d["version"], d["file_count"]) for d in datasets] == [("iris", 2, 2)]
    assert [(v["version"], v["message"]) for v in json.loads(expect(log, 0))] == [
        (1, "first"),
        (2, ""),
    ]
    text = expect(shown, 0)
    for part in ("iris@1", "first", "iris.csv: 24 rows", "sepal", "species", "numeric", "6.8"):
        assert part in text
    expect(got, 0)
    assert (project / "restored" / "iris.csv").read_text(encoding="utf-8") == IRIS
    assert refused.returncode == 2 and "--yes" in refused.stderr
    assert "loopml data add iris" in expect(helped, 0)

    assert "Deleted iris@1" in expect(cli("data", "rm", "iris@1", "--yes", cwd=project), 0)
    missing = cli("data", "show", "iris@1", cwd=project)
    assert missing.returncode == 2
    assert re.search(r"(?s)iris.*versions?\D*2", missing.stderr), missing.stderr


def test_validate_schema_and_refused_adds(project: Path) -> None:
    expect(cli("data", "add", "iris", "data/iris.csv", cwd=project), 0)
    (project / "broken.csv").write_text("a,b\n1,2\n3,4,5\n", encoding="utf-8")

    good, bad, schema, blocked, broken = run_all(
        project,
        ("data", "validate", "iris", "good.csv"),
        ("data", "validate", "iris", "bad.csv"),
        ("data", "schema", "iris", "--out", "iris.schema.yaml"),
        ("data", "add", "iris", "bad.csv", "--require-valid"),
        ("data", "add", "broken", "broken.csv"),
    )
    assert "OK" in expect(good, 0)
    report = expect(bad, 1)
    assert "FAILED" in report and "column sepal" in report and "max" in report
    assert "99.5" in report
    expect(schema, 0)
    schema_text = (project / "iris.schema.yaml").read_text(encoding="utf-8")
    assert "sepal" in schema_text and "species" in schema_text
    assert expect(blocked, 1) and "failed validation" in blocked.stderr
    assert broken.returncode == 2
    assert "broken.csv" in broken.stderr and "line 3" in broken.stderr

    with_schema, listed = run_all(
        project,
        ("data", "validate", "iris", "bad.csv", "--schema", "iris.schema.yaml", "--json"),
        ("data", "list", "--json"),
    )
    document = json.loads(expect(with_schema, 1))
    assert document["ok"] is False
    assert [(f["column"], f["rule"]) for f in document["failures"]] == [("sepal", "max")]
    # neither the invalid nor the malformed data made a version
    assert [(d["dataset"], d["version"]) for d in json.loads(expect(listed, 0))] == [("iris", 1)]


def test_status_shows_what_changed_and_can_set_the_exit_code(project: Path) -> None:
    expect(cli("data", "add", "iris", "data", "-q", cwd=project), 0)
    out = expect(cli("data", "status", cwd=project), 0)
    assert "iris@1: up to date with" in out
    (project / "data" / "iris.csv").write_text(IRIS + "7.0,virginica\n", encoding="utf-8")
    (project / "data" / "extra.txt").write_text("more\n", encoding="utf-8")
    out = expect(cli("data", "status", "iris", "--exit-code", cwd=project), 1)
    assert "1 modified, 1 new, 0 deleted" in out and "iris.csv" in out and "extra.txt" in out
    found = json.loads(expect(cli("data", "status", "--json", cwd=project), 0))
    assert found == [
        {
            "dataset": "iris",
            "version": 1,
            "source": str(project / "data"),
            "clean": False,
            "added": ["extra.txt"],
            "removed": [],
            "modified": ["iris.csv"],
            "unchanged": 0,
        }
    ]
    err = cli("data", "status", "--path", "data", cwd=project)
    assert err.returncode == 2 and "--path needs one dataset name" in err.stderr
