"""The e2e tests' shared quickstart project: ``loopml quickstart DIR --quiet`` trains,
registers and serves real models, the slowest setup of the suite, so it runs once per test
session and every xdist worker reads the same project (the first to ask makes it under a lock,
the others wait for it). Tests copy it before they change anything."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.runner import cli

QUICKSTART_TIMEOUT = 900  # trains and serves models: minutes on a busy machine


@dataclass(frozen=True)
class QuickstartProject:
    """A project made by ``loopml quickstart DEMO --quiet``, and what the command said."""

    demo: Path
    done: subprocess.CompletedProcess[str]


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@pytest.fixture(scope="session")
def quickstart_project(tmp_path_factory: pytest.TempPathFactory) -> QuickstartProject:
    """The first quickstart of a new project, made once for every worker of this run (the
    parent of a worker's base temp folder is the run's, shared by all its workers)."""
    base = tmp_path_factory.getbasetemp()
    root = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "quickstart"
    root.mkdir(exist_ok=True)
    record = root / "done.json"
    with _locked(root / ".lock"):
        if not record.exists():
            demo = str(root / "demo")
            done = cli(
                "quickstart", demo, "--quiet", cwd=root, timeout=QUICKSTART_TIMEOUT, columns=120
            )
            said = {"returncode": done.returncode, "stdout": done.stdout, "stderr": done.stderr}
            record.write_text(json.dumps(said), encoding="utf-8")
        said = json.loads(record.read_text(encoding="utf-8"))
    args = ["loopml", "quickstart", str(root / "demo"), "--quiet"]
    return QuickstartProject(root / "demo", subprocess.CompletedProcess(args, **said))
