"""A command that fails outside a project leaves no ``.loopml/`` behind (issue 13, item 23)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.runner import cli

FAILING = [
    pytest.param(("data", "add", "foo", "nothere.csv"), id="data-add-missing-file"),
    # the table is read after the project (and its stores) would have been made
    pytest.param(("data", "add", "foo", "bad.csv"), id="data-add-malformed-table"),
    pytest.param(("models", "register", "m", "--run", "abcd", "--step", "x"), id="models-register"),
    pytest.param(("runs", "list"), id="runs-list"),
]


@pytest.mark.parametrize("args", FAILING)
def test_a_failed_command_outside_a_project_creates_no_project(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    (tmp_path / "bad.csv").write_text("a,b\n1,2,3\n", encoding="utf-8")
    result = cli(*args, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "Error" in result.stderr
    assert not (tmp_path / ".loopml").exists()


def test_a_failed_data_add_keeps_a_project_that_a_successful_one_made(tmp_path: Path) -> None:
    (tmp_path / "ok.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    assert cli("data", "add", "foo", "ok.csv", cwd=tmp_path).returncode == 0
    assert (tmp_path / ".loopml").is_dir()
    assert cli("data", "add", "foo", "nothere.csv", cwd=tmp_path).returncode == 2
    assert (tmp_path / ".loopml").is_dir()
