"""Both servers' /docs (Swagger UI) load every script, style and icon from the loopml package
itself: each src/href of the page is a local path that answers 200, nothing from a CDN."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from loopml.dashboard.assets import STATIC_DIR
from loopml.server import create_app as platform_app
from loopml.serving.app import create_app as model_server_app
from loopml.stores.artifacts.local import LocalArtifactStore
from loopml.stores.registry import open_metadata_store

LINKS = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""")
URLS_IN_SCRIPT = re.compile(r"""url:\s*'([^']+)'""")


class _UnloadedSource:
    """A model source the app is built over but never asked for a model: /docs needs none."""

    name = "offline-docs"
    description = "no model (only /docs is requested)"
    polls = False

    def __getattr__(self, attribute: str) -> Any:  # pragma: no cover - never called
        raise AssertionError(f"/docs must not touch the model source ({attribute})")


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[FastAPI]:
    metadata = open_metadata_store(f"sqlite:///{tmp_path / 'loopml.db'}")
    yield platform_app(metadata, LocalArtifactStore(str(tmp_path / "artifacts")))
    metadata.close()


def _local_links(app: FastAPI) -> list[str]:
    """The page's links, after checking each is a local path answering 200 (in process: the
    app's routes and files are what is checked, not a network)."""

    async def check() -> list[str]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            page = await client.get("/docs")
            assert page.status_code == 200 and "text/html" in page.headers["content-type"]
            links = LINKS.findall(page.text) + URLS_IN_SCRIPT.findall(page.text)
            assert len(links) >= 4, page.text  # style, icon, script, the OpenAPI document
            assert [link for link in links if not link.startswith("/")] == []
            answers = {link: (await client.get(link)).status_code for link in links}
            assert {link: s for link, s in answers.items() if s != 200} == {}
            return links

    return asyncio.run(check())


def test_the_platform_servers_docs_load_only_local_files(platform: FastAPI) -> None:
    links = _local_links(platform)
    assert "/ui/static/vendor/swagger-ui-dist/swagger-ui-bundle.js" in links
    assert "/openapi.json" in links


def test_the_model_servers_docs_load_only_local_files() -> None:
    app = model_server_app(_UnloadedSource())  # type: ignore[arg-type]
    links = _local_links(app)
    assert "/static/vendor/swagger-ui-dist/swagger-ui.css" in links


def test_the_vendored_files_are_the_ones_the_manifest_lists() -> None:
    vendor = STATIC_DIR / "vendor"
    listed = {
        f"{package}/{name}"
        for line in (vendor / "VERSIONS").read_text().splitlines()
        if not line.startswith("#")
        for package, _version, *names in [line.split()]
        for name in names
    }
    present = {str(p.relative_to(vendor)) for p in vendor.rglob("*") if p.is_file()}
    assert listed == present - {"VERSIONS"}
    assert {"htmx.org/htmx.min.js", "uplot/uPlot.iife.min.js", "uplot/LICENSE"} <= listed


def test_with_a_token_the_model_servers_docs_and_their_files_need_it() -> None:
    token = "t" * 32
    app = model_server_app(_UnloadedSource(), token=token)  # type: ignore[arg-type]
    paths = ("/docs", "/static/vendor/swagger-ui-dist/swagger-ui-bundle.js", "/openapi.json")

    async def statuses(headers: dict[str, str]) -> list[int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return [(await client.get(path, headers=headers)).status_code for path in paths]

    assert asyncio.run(statuses({})) == [401, 401, 401]
    assert asyncio.run(statuses({"Authorization": f"Bearer {token}"})) == [200, 200, 200]
