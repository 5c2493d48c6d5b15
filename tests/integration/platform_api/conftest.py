"""The platform server these modules talk to (one per module), and the app in-process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from loopml.server import create_app
from loopml.stores.artifacts.local import LocalArtifactStore
from loopml.stores.registry import open_metadata_store
from loopml.stores.remote.metadata import HttpMetadataStore
from tests.fixtures.server import PlatformServer

# the shared expectations assert; pytest explains their failures like a test's own
pytest.register_assert_rewrite("tests.integration.platform_api.expectations")


@pytest.fixture(scope="module")
def server(shared_platform_server: PlatformServer) -> PlatformServer:
    """One server for each module; each test makes its own experiment and runs."""
    return shared_platform_server


@pytest.fixture
def http(server: PlatformServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30.0) as client:
        yield client


@pytest.fixture
def offline_app(tmp_path: Path) -> Iterator[FastAPI]:
    """The app over real stores in ``tmp_path``, for tests that look at it in-process."""
    metadata = open_metadata_store(f"sqlite:///{tmp_path / 'loopml.db'}")
    yield create_app(metadata, LocalArtifactStore(str(tmp_path / "artifacts")))
    metadata.close()


@pytest.fixture
def store(server: PlatformServer) -> Iterator[HttpMetadataStore]:
    made = HttpMetadataStore(server.url)
    yield made
    made.close()
