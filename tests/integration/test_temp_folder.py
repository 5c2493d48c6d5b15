"""A ``loopml`` process killed by a test leaves its scratch in pytest's temp folder (the
``TMPDIR`` that ``tests/fixtures/temp_folder.py`` gives the run), never in the system's."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.temp_folder import SYSTEM_TEMP

MAKE_SCRATCH_THEN_DIE = """
import os, signal, tempfile
from loopml.stores.scratch import scratch_prefix
print(tempfile.mkdtemp(prefix=scratch_prefix("model")), flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_killed_subprocess_leaves_its_scratch_inside_pytests_temp_folder(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", MAKE_SCRATCH_THEN_DIE], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == -signal.SIGKILL, done.stderr
    scratch = Path(done.stdout.strip())
    assert scratch.is_dir() and scratch.name.startswith("loopml-model-")
    assert scratch.parent == Path(os.environ["TMPDIR"])
    assert tmp_path_factory.getbasetemp() in scratch.parents
    assert not (SYSTEM_TEMP / scratch.name).exists()
