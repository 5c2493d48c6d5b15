"""Shared fixtures. Each backend's fixture lives in ``tests/fixtures/<backend>.py``."""

from __future__ import annotations

import os
from collections.abc import Iterator

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


# The modules that take longest, longest first (measured with --durations; docs/benchmarks.md,
# "Test suite"). `make test` (--dist loadfile --no-loadscope-reorder) hands modules to the two
# xdist workers in collection order, so these start first and the short ones fill the gaps at
# the end. The quickstart module comes first: its first test makes the quickstart project the
# docs tests copy (tests/e2e/conftest.py), while the other worker runs docs that need none.
SLOWEST_MODULES = [
    "tests/e2e/test_quickstart.py",
    "tests/e2e/test_quickstart_loop.py",
    # long, and started last when left in collection order (a per-module census, 2026-12-07:
    # at 1248 s and 1391 s of a 1733 s run)
    "tests/integration/test_serving_fuzz.py",
    "tests/integration/test_pipeline_ray.py",
    "tests/integration/test_prediction_log.py",
    "tests/e2e/test_docs_readme_examples.py",
    "tests/e2e/test_docs_batch_scoring_examples.py",
    "tests/e2e/test_docs_maintenance_examples.py",
    "tests/e2e/test_docs_pipelines_examples.py",
    "tests/e2e/test_docs_models_examples.py",
    "tests/e2e/test_docs_monitoring_examples.py",
    "tests/e2e/test_docs_serving_examples.py",
    "tests/e2e/test_docs_examples.py",
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The slowest modules first, each module's tests together and in their order."""
    rank = {module: place for place, module in enumerate(SLOWEST_MODULES)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))


# LOOPML_MODULE_TIMES=FILE: the run writes FILE, the seconds each module took (its tests'
# setup, call and teardown, as the workers reported them), to rank SLOWEST_MODULES.
_MODULE_TIMES = os.environ.get("LOOPML_MODULE_TIMES")
_module_seconds: dict[str, float] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if _MODULE_TIMES and "PYTEST_XDIST_WORKER" not in os.environ:  # the controller sees all
        module = report.nodeid.split("::")[0]
        _module_seconds[module] = _module_seconds.get(module, 0.0) + report.duration


def pytest_sessionfinish(session: pytest.Session) -> None:
    if _MODULE_TIMES and _module_seconds:
        import json

        ranked = dict(sorted(_module_seconds.items(), key=lambda item: -item[1]))
        with open(_MODULE_TIMES, "w") as out:
            json.dump(ranked, out, indent=1)
