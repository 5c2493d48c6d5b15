"""One doc file's examples run as a test (the docs test modules share it): the file's blocks
go to docs_driver.py in a fresh folder, or in a copy of the quickstart project when the file
says so, and the driver must end with 0 within :data:`FILE_TIMEOUT`."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.docs_examples import DocFile
from tests.fixtures.backends import backend_unavailable

DRIVER = Path(__file__).with_name("docs_driver.py")
FILE_TIMEOUT = 900  # the README's tour trains and serves models with the quickstart
# the quickstart project (tests/e2e/conftest.py) is made by the first test that asks for it
TEST_TIMEOUT = FILE_TIMEOUT * 2


def driver_env() -> dict[str, str]:
    bin_dir = str(Path(sys.executable).parent)
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")}
    return {**clean, "PATH": f"{bin_dir}{os.pathsep}{clean.get('PATH', '')}", "COLUMNS": "120"}


def run_doc(doc: DocFile, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """Run the examples of ``doc`` as written; fail naming the block that failed."""
    assert not doc.untagged, (
        f"{doc.name}: fenced blocks without a language at lines {doc.untagged}; tag each one "
        "(bash or python to run it, text or yaml not to)"
    )
    if not any(block.runs for block in doc.blocks):
        return
    if any(block.runs and "jq " in block.text for block in doc.blocks) and not shutil.which("jq"):
        backend_unavailable(f"{doc.name}'s shell examples use jq, which is not installed")
    folder = tmp_path / "project"
    if doc.project == "quickstart":
        shutil.copytree(request.getfixturevalue("quickstart_project").demo, folder, symlinks=True)
    elif doc.project is None:
        folder.mkdir()
    else:
        pytest.fail(f"{doc.name}: unknown docs-test project {doc.project!r}; known: quickstart")
    blocks_file = tmp_path / "blocks.json"
    blocks_file.write_text(doc.to_json(), encoding="utf-8")
    driver = subprocess.Popen(
        [sys.executable, str(DRIVER), str(blocks_file)],
        cwd=folder,
        env=driver_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # so that a timeout stops the servers and workers it started
    )
    try:
        out, err = driver.communicate(timeout=FILE_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(driver.pid, signal.SIGKILL)
        out, err = driver.communicate()
        pytest.fail(f"{doc.name}: over {FILE_TIMEOUT} s\n{out[-6000:]}\n{err[-6000:]}")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(driver.pid, signal.SIGKILL)  # e.g. a `loopml serve &` left running
    assert driver.returncode == 0, f"{doc.name}:\n{out[-6000:]}\n{err[-6000:]}"
