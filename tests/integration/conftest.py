"""Fixtures shared by the integration tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from loopml.tracking.client import Client


@pytest.fixture
def client(tmp_path: Path) -> Iterator[Client]:
    """A client on a fresh embedded store (SQLite + a local folder) in the test's folder."""
    with Client(
        store_uri=f"sqlite:///{tmp_path / 'loopml.db'}", artifact_uri=str(tmp_path / "artifacts")
    ) as c:
        yield c
