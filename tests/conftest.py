"""Shared fixtures. Each backend's fixture lives in ``tests/fixtures/<backend>.py``."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

# One BLAS / OpenMP thread per process, set before anything imports numpy, for the workers and
# every process they start (they inherit it). The suite runs three workers and their servers
# and CLI processes on two cores: OpenBLAS's threads then fight for them, and on the small
# matrices of the tests they cost far more than they save (an unscaled breast-cancer
# LogisticRegression fit: ~6-12 s of CPU with the default threads, 0.8 s with one).
for _threads in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
    os.environ.setdefault(_threads, "1")

pytest_plugins = [
    "tests.fixtures.postgres",
    "tests.fixtures.ray",
    "tests.fixtures.s3",
    "tests.fixtures.server",
    "tests.fixtures.server_restarts",
    "tests.fixtures.temp_folder",
]


@pytest.fixture(autouse=True, scope="session")
def _private_user_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Caches outside a project (the stat cache, downloaded versions) go to a temp folder,
    never to the real ``~/.cache`` of whoever runs the tests (subprocesses inherit it)."""
    before = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("xdg-cache"))
    yield
    if before is None:
        del os.environ["XDG_CACHE_HOME"]
    else:
        os.environ["XDG_CACHE_HOME"] = before


# The order modules start in: `make test` (--dist loadfile --no-loadscope-reorder) hands them
# to the xdist workers in collection order, so the longest go first and the short ones fill
# the gaps at the end (longest processing time first). Each module's seconds come from a real
# run (tests/module_durations.json, written with LOOPML_MODULE_TIMES below; a new module not
# in it yet goes last). The quickstart module comes first whatever its time: its first test
# makes the quickstart project the docs and loop tests copy (tests/e2e/conftest.py).
FIRST_MODULE = "tests/e2e/test_quickstart.py"
MODULE_DURATIONS = Path(__file__).with_name("module_durations.json")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The longest modules first, each module's tests together and in their order."""
    seconds: dict[str, float] = json.loads(MODULE_DURATIONS.read_text(encoding="utf-8"))

    def rank(item: pytest.Item) -> tuple[bool, float]:
        module = item.nodeid.split("::")[0]
        return module != FIRST_MODULE, -seconds.get(module, 0.0)

    items.sort(key=rank)  # stable: a module's tests keep their order, side by side


# LOOPML_MODULE_TIMES=FILE: the run writes FILE, the seconds each module took (its tests'
# setup, call and teardown, as the workers reported them): tests/module_durations.json.
_MODULE_TIMES = os.environ.get("LOOPML_MODULE_TIMES")
_module_seconds: dict[str, float] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if _MODULE_TIMES and "PYTEST_XDIST_WORKER" not in os.environ:  # the controller sees all
        module = report.nodeid.split("::")[0]
        _module_seconds[module] = _module_seconds.get(module, 0.0) + report.duration


def pytest_sessionfinish(session: pytest.Session) -> None:
    if _MODULE_TIMES and _module_seconds:
        ranked = dict(sorted(_module_seconds.items(), key=lambda item: -item[1]))
        with open(_MODULE_TIMES, "w") as out:
            json.dump(ranked, out, indent=1)
