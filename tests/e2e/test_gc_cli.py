"""``loopml gc`` after real crashes: a ``data add`` and a ``models register`` killed with
SIGKILL mid-write, a quickstart interrupted with Ctrl-C (issue 13, item 10)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from loopml.core.config import init_project
from tests.e2e.runner import LOOPML, cli

WAIT_S = 60.0
BIG = 256 << 20  # big enough that the kill lands while the blob is being written


def _env(tmp: Path) -> dict[str, str]:
    """A private system temp folder: gc must never sweep the real one of this machine."""
    tmp.mkdir(exist_ok=True)
    return {"TMPDIR": str(tmp)}


def _wait_for(found: Callable[[], bool], what: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + WAIT_S
    while not found():
        if process.poll() is not None:
            pytest.fail(f"the process ended (exit {process.returncode}) before {what}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.01)


# Ctrl-C reaches a command in a terminal; a process started with SIGINT ignored (a background
# job of a script, or a test worker that some library left ignoring it) passes that on to its
# children, and Python then never raises KeyboardInterrupt. The command runs as in a terminal.
_WITH_CTRL_C = (
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
    "os.execv(sys.argv[1], sys.argv[1:])"
)


def _interrupt(process: subprocess.Popen[bytes]) -> int:
    """Ctrl-C, pressed again every few seconds until the process ends, as a user would: CPython
    drops a KeyboardInterrupt that lands while a finalizer (``__del__``) runs, so one signal
    can go unheard. Its exit code."""
    deadline = time.monotonic() + WAIT_S
    while True:
        process.send_signal(signal.SIGINT)
        try:
            return process.wait(timeout=5.0)
        except subprocess.TimeoutExpired:
            if time.monotonic() > deadline:
                process.kill()
                pytest.fail("Ctrl-C did not stop the process")


def _gc(project: Path, tmp: Path, *args: str) -> dict[str, object]:
    result = cli("gc", "--grace", "0", "--json", *args, cwd=project, env=_env(tmp))
    assert result.returncode == 0, result.stderr
    document: dict[str, object] = json.loads(result.stdout)
    return document


def test_gc_removes_what_a_killed_data_add_left_and_keeps_every_version(tmp_path: Path) -> None:
    project, tmp = tmp_path / "project", tmp_path / "tmp"
    project.mkdir()
    init_project(project)
    (project / "small.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    (project / "gone.csv").write_text("a,b\n3,4\n", encoding="utf-8")
    block = os.urandom(1 << 20)
    with (project / "big.bin").open("wb") as out:
        for _ in range(BIG >> 20):
            out.write(block)
    for args in (("small", "small.csv"), ("gone", "gone.csv")):
        assert cli("data", "add", *args, cwd=project).returncode == 0
    assert cli("data", "rm", "gone", "--yes", cwd=project).returncode == 0

    store_tmp = project / ".loopml" / "artifacts" / "tmp"
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")}
    adding = subprocess.Popen(
        [str(LOOPML), "data", "add", "big", "big.bin", "--quiet"],
        cwd=project,
        env={**clean, **_env(tmp)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def writing() -> bool:
        parts = list(store_tmp.glob("put-*.part")) if store_tmp.is_dir() else []
        return any(part.stat().st_size > 0 for part in parts)

    _wait_for(writing, "the blob was being written", adding)
    adding.send_signal(signal.SIGKILL)
    adding.wait(timeout=WAIT_S)
    leftovers = sorted(part.name for part in store_tmp.glob("put-*.part"))
    assert leftovers

    listed = _gc(project, tmp)
    removable = {(item["kind"], item["name"]) for item in listed["removable"]}  # type: ignore[attr-defined]
    assert {("temp", name) for name in leftovers} <= removable
    assert any(kind == "pack" for kind, _name in removable)  # the deleted version's blobs
    assert sorted(part.name for part in store_tmp.glob("put-*.part")) == leftovers  # a dry run

    applied = _gc(project, tmp, "--apply")
    assert applied["removed"] == applied["removable_total"]
    assert not list(store_tmp.glob("put-*.part"))
    assert _gc(project, tmp)["removable"] == []
    got = cli("data", "get", "small@1", "--to", str(tmp_path / "out"), cwd=project)
    assert got.returncode == 0, got.stderr  # every byte read back is checked against its digest
    assert (tmp_path / "out" / "small.csv").read_text(encoding="utf-8") == "a,b\n1,2\n"


_REGISTER = textwrap.dedent(
    """
    import os, signal, sys
    import loopml.models
    from loopml.tracking.client import Client

    class KilledWhileSaved:
        def __reduce__(self):  # the pickle flavor saves the model: die half-way through
            os.kill(os.getpid(), signal.SIGKILL)

    with Client(create=False) as client:
        loopml.models.register(
            "doomed", [b"x" * (4 << 20), KilledWhileSaved()], allow_pickle=True, client=client
        )
    """
)


def test_a_killed_models_register_leaves_its_files_where_gc_finds_them(tmp_path: Path) -> None:
    project, tmp = tmp_path / "project", tmp_path / "tmp"
    project.mkdir()
    init_project(project)
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")}
    killed = subprocess.run(
        [sys.executable, "-c", _REGISTER],
        cwd=project,
        env={**clean, **_env(tmp)},
        capture_output=True,
        timeout=WAIT_S,
        check=False,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert list(tmp.iterdir()) == []  # nothing in the system temp folder
    store_tmp = project / ".loopml" / "artifacts" / "tmp"
    scratch = [path.name for path in store_tmp.iterdir()]
    assert len(scratch) == 1 and scratch[0].startswith("loopml-model-")

    applied = _gc(project, tmp, "--apply")
    assert [(i["kind"], i["name"]) for i in applied["removable"]] == [("temp", scratch[0])]  # type: ignore[attr-defined]
    assert list(store_tmp.iterdir()) == []


def test_an_interrupted_quickstart_removes_its_temporary_project(tmp_path: Path) -> None:
    tmp = tmp_path / "tmp"
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")}
    errors = (tmp_path / "stderr.txt").open("wb")
    quickstart = subprocess.Popen(
        [sys.executable, "-c", _WITH_CTRL_C, str(LOOPML), "quickstart", "--quiet"],
        cwd=tmp_path,
        env={**clean, **_env(tmp)},
        stdout=subprocess.DEVNULL,
        stderr=errors,
    )

    def started() -> bool:  # the project exists and its store is open
        return any(
            (folder / ".loopml" / "loopml.db").exists() for folder in tmp.glob("loopml-qs-*")
        )

    _wait_for(started, "the quickstart project was made", quickstart)
    code = _interrupt(quickstart)
    errors.close()
    assert code != 0, (tmp_path / "stderr.txt").read_text(errors="replace")
    assert list(tmp.glob("loopml-qs-*")) == []


def test_gc_through_a_server_is_refused_and_says_where_to_run_it(tmp_path: Path) -> None:
    result = cli("gc", cwd=tmp_path, env={"LOOPML_SERVER_URL": "http://127.0.0.1:9"})
    assert result.returncode == 2
    assert "works on the stores directly, not through a server" in result.stderr
    assert "LOOPML_STORE_URI and LOOPML_ARTIFACT_URI" in result.stderr
