"""``loopml data diff`` as a user runs it: the real console script over a real SQLite project."""

from __future__ import annotations

import json
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from loopml.core.config import init_project
from tests.e2e.runner import cli

ROWS = 300


def expect(result: subprocess.CompletedProcess[str], code: int) -> str:
    assert result.returncode == code, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result.stdout


def sales_csv(shift: float, *, with_channel: bool) -> str:
    """price rises steadily with the row (plus ``shift``); store cycles a/b; maybe a channel."""
    lines = ["price,store" + (",channel" if with_channel else "")]
    for i in range(ROWS):
        line = f"{10 + i / 10 + shift:.2f},{'ab'[i % 2]}"
        lines.append(line + (",web" if with_channel else ""))
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """sales@1 and sales@2: price shifted by a lot, a channel column, a.txt → b.txt.
    Made once: every test here only reads it."""
    tmp_path = tmp_path_factory.mktemp("diff-project")
    init_project(tmp_path)
    for version, shift, extra in (("v1", 0.0, "a.txt"), ("v2", 25.0, "b.txt")):
        folder = tmp_path / version
        folder.mkdir()
        (folder / "sales.csv").write_text(sales_csv(shift, with_channel=version == "v2"))
        (folder / "README").write_text("weekly sales\n")
        (folder / extra).write_text(f"{extra}\n")
        expect(cli("data", "add", "sales", version, "-q", cwd=tmp_path), 0)
    return tmp_path


def run_all(project: Path, *commands: tuple[str, ...]) -> list[subprocess.CompletedProcess[str]]:
    """Run independent commands at once (each is a real process; this keeps the suite fast)."""
    with ThreadPoolExecutor(max_workers=len(commands)) as pool:
        return list(pool.map(lambda args: cli(*args, cwd=project), commands))


def test_diff_prints_files_schema_changes_and_drift_per_column(project: Path) -> None:
    shown, to_latest = run_all(
        project, ("data", "diff", "sales@1", "sales@2"), ("data", "diff", "sales@1")
    )
    text = expect(shown, 0)
    for part in (
        "sales@1 → sales@2",
        "Files: 1 added, 1 removed, 1 changed, 1 unchanged",
        "a.txt",
        "b.txt",
        f"sales.csv: {ROWS} → {ROWS} rows",
        "+ column channel added (categorical)",
        "top category",
        "median",
    ):
        assert part in text, part
    price = next(line for line in text.splitlines() if line.strip().startswith("price"))
    assert "major" in price
    store = next(line for line in text.splitlines() if line.strip().startswith("store"))
    assert "stable" in store and "0.000" in store
    # one ref: against the newest version of the same dataset
    assert expect(to_latest, 0) == text


def test_diff_json_is_machine_readable(project: Path) -> None:
    document = json.loads(
        expect(cli("data", "diff", "sales@1", "sales@2", "--json", cwd=project), 0)
    )
    assert (document["a"], document["b"]) == ("sales@1", "sales@2")
    files = document["files"]
    assert [f["path"] for f in files["added"]] == ["b.txt"]
    assert [f["path"] for f in files["removed"]] == ["a.txt"]
    assert [f["path"] for f in files["changed"]] == ["sales.csv"]
    assert files["unchanged"] == 1
    (table,) = document["tables"]
    assert table["path"] == "sales.csv" and (table["rows_a"], table["rows_b"]) == (ROWS, ROWS)
    assert [(c["column"], c["kind"]) for c in table["schema_changes"]] == [("channel", "added")]
    drift = {c["name"]: c["drift"] and c["drift"]["verdict"] for c in table["columns"]}
    assert drift == {"price": "major", "store": "stable", "channel": None}


def test_diff_limits_to_one_table_with_the_table_option(project: Path) -> None:
    picked, unknown = run_all(
        project,
        ("data", "diff", "sales@1", "sales@2", "--table", "sales.csv", "--json"),
        ("data", "diff", "sales@1", "sales@2", "--table", "README"),
    )
    assert [t["path"] for t in json.loads(expect(picked, 0))["tables"]] == ["sales.csv"]
    expect(unknown, 2)
    assert "README" in unknown.stderr and "sales.csv" in unknown.stderr


def test_bad_refs_exit_2_with_a_message_naming_them(project: Path) -> None:
    malformed, missing_version, missing_dataset, no_args = run_all(
        project,
        ("data", "diff", "sales@one", "sales@2"),
        ("data", "diff", "sales@1", "sales@7"),
        ("data", "diff", "nope@1"),
        ("data", "diff"),
    )
    for result in (malformed, missing_version, missing_dataset, no_args):
        expect(result, 2)
        assert "Traceback" not in result.stderr
    assert "sales@one" in malformed.stderr and "not a positive whole number" in malformed.stderr
    assert "sales" in missing_version.stderr and "7" in missing_version.stderr
    assert "nope" in missing_dataset.stderr
    assert "Missing argument" in no_args.stderr
