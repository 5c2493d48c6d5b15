"""Shared fixtures. Each backend's fixture lives in ``tests/fixtures/<backend>.py``."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

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
