"""The dashboard's pages as the platform server answers them (the app in process, over a real
SQLite store): the runs page's bounds and what it leaves out, the pages still to come, and
the markup rules every page follows (a language, landmarks, no inline event handlers)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from loopml.dashboard.pages.runs import MAX_PER_PAGE
from loopml.dashboard.templating import NAV
from loopml.server import create_app
from loopml.stores.artifacts.local import LocalArtifactStore
from loopml.stores.registry import open_metadata_store
from loopml.tracking import Client

INLINE_HANDLER = re.compile(r"<[^>]*\son[a-z]+\s*=", re.IGNORECASE)
INLINE_STYLE = re.compile(r"<[^>]*\sstyle\s*=", re.IGNORECASE)


@pytest.fixture
def app(tmp_path: Path) -> Iterator[FastAPI]:
    uri, artifacts = f"sqlite:///{tmp_path / 'loopml.db'}", str(tmp_path / "artifacts")
    with Client(uri, artifacts) as client:
        client.create_run("churn", name="trained")
        client.create_run("serving", name="prediction-log")
    metadata = open_metadata_store(uri)
    yield create_app(metadata, LocalArtifactStore(artifacts))
    metadata.close()


def _get(app: FastAPI, *paths: str) -> list[httpx.Response]:
    async def fetch() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return [await client.get(path) for path in paths]

    return asyncio.run(fetch())


def test_all_runs_leave_the_prediction_logs_out_as_loopml_runs_list_does(app: FastAPI) -> None:
    everything, serving, unknown = _get(
        app, "/ui/", "/ui/?experiment=serving", "/ui/?experiment=no-such-experiment"
    )
    assert everything.status_code == 200
    assert "trained" in everything.text and "prediction-log" not in everything.text
    assert serving.status_code == 200  # asked for by name, as in loopml runs list
    assert "prediction-log" in serving.text and "trained" not in serving.text
    assert unknown.status_code == 404 and "no-such-experiment" in unknown.text


def test_a_page_larger_than_the_cap_or_a_forged_token_is_refused(app: FastAPI) -> None:
    too_many, forged = _get(app, f"/ui/?per_page={MAX_PER_PAGE + 1}", "/ui/?page_token=forged")
    assert too_many.status_code == 400 and "per_page" in too_many.text
    assert forged.status_code == 400


def test_every_page_has_a_language_landmarks_and_no_inline_handlers(app: FastAPI) -> None:
    pages = _get(app, *(f"/ui/{item.slug}" for item in NAV))
    for item, page in zip(NAV, pages, strict=True):
        assert page.status_code == 200, item
        assert '<html lang="en">' in page.text
        assert '<main id="main">' in page.text and 'aria-label="Dashboard sections"' in page.text
        assert f'aria-current="page">{item.title}</a>' in page.text
        assert INLINE_HANDLER.search(page.text) is None, item
        assert INLINE_STYLE.search(page.text) is None, item
        # scripts only from the package's files (tests/browser sees a violation as an error)
        policy = page.headers["content-security-policy"]
        assert "script-src 'self';" in policy and "unsafe-inline" not in policy, item
