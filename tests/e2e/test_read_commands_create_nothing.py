"""Outside a project, read-only commands and commands that fail create nothing — no
``.loopml/``, no cache — and neither do the library's read functions; only ``init``,
``quickstart`` and successful writes make a project."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import loopml.models
from loopml.core.errors import ConfigError
from loopml.models.compare import diff
from loopml.models.packaging import package
from loopml.pipelines import step_output
from loopml.serving.batch import score
from tests.e2e.runner import cli

COMMANDS = [
    ("runs", "list"),
    ("runs", "show", "3f2a9c1e"),
    ("runs", "gc", "--dry-run"),
    ("models", "list"),
    ("models", "show", "churn@1"),
    ("models", "promote", "churn@1"),
    ("experiments", "list"),
    ("experiments", "create", "new"),
    ("data", "list"),
    ("data", "status"),
    ("data", "get", "iris@1", "--to", "copy"),
    ("predict", "churn@1", "--input", "rows.csv", "--output", "scored.csv"),
    ("gate", "churn@1"),
    ("package", "churn@1", "--out", "bundle"),
    ("feedback", "labels.csv"),
    ("monitor", "predictions", "churn"),
    ("gc",),
    ("lineage", "data", "iris@1"),
    ("card", "churn@1", "-o", "card.html"),
    ("models", "describe", "churn", "--owner", "someone"),
]


def test_read_only_and_failing_commands_outside_a_project_create_nothing(tmp_path: Path) -> None:
    folder, cache = tmp_path / "empty", tmp_path / "cache"
    folder.mkdir()
    (folder / "rows.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    (folder / "labels.csv").write_text("prediction_id,label\nx,1\n", encoding="utf-8")
    before = sorted(path.name for path in folder.iterdir())
    env = {"XDG_CACHE_HOME": str(cache), "TMPDIR": str(tmp_path)}
    for args in COMMANDS:
        result = cli(*args, cwd=folder, env=env)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert "loopml init" in result.stderr, (args, result.stderr)
        assert sorted(path.name for path in folder.iterdir()) == before, args
        assert not cache.exists(), args


READS: list[tuple[str, Callable[[], Any]]] = [
    ("models.get", lambda: loopml.models.get("churn@1")),
    ("models.load", lambda: loopml.models.load("churn@1")),
    ("models.set_alias", lambda: loopml.models.set_alias("churn", "champion", 1)),
    ("models.promote", lambda: loopml.models.promote("churn@1")),
    ("models.rollback", lambda: loopml.models.rollback("churn")),
    ("models.diff", lambda: diff("churn@1", "churn@2")),
    ("package", lambda: package("churn@1", Path("bundle"))),
    ("score", lambda: score("churn@1", Path("rows.csv"), Path("out.csv"))),
    ("step_output", lambda: step_output("3f2a9c1e", "train")),
]


@pytest.mark.parametrize("read", [call for _, call in READS], ids=[name for name, _ in READS])
def test_library_reads_outside_a_project_say_so_and_create_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, read: Callable[[], Any]
) -> None:
    for name in ("LOOPML_STORE_URI", "LOOPML_ARTIFACT_URI", "LOOPML_SERVER_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="loopml init"):
        read()
    assert list(tmp_path.iterdir()) == []
