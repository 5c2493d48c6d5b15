"""The audit page as the platform server answers it (the app in process, over a real SQLite
store): the log newest first a page at a time, the store's filters as ``loopml audit log``
takes them, and Verify reporting an intact chain, then the first bad position of a tampered
one (as ``loopml audit verify`` does)."""

from __future__ import annotations

import asyncio
import html
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from loopml.dashboard.pages.audit import MAX_PER_PAGE
from loopml.server import create_app
from loopml.stores.artifacts.local import LocalArtifactStore
from loopml.stores.registry import open_metadata_store
from loopml.tracking.audit_log import verify_log

EVENTS = 7
ROW = re.compile(r'<tr data-seq="(\d+)">')


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    path = tmp_path / "loopml.db"
    store = open_metadata_store(f"sqlite:///{path}")
    try:
        for n in range(EVENTS):
            actor = "ana" if n % 2 == 0 else "bo"
            store.append_event(actor=actor, action="note", target=f"model:m{n}", payload={"n": n})
    finally:
        store.close()
    return path


@pytest.fixture
def app(store_path: Path) -> Iterator[FastAPI]:
    metadata = open_metadata_store(f"sqlite:///{store_path}")
    yield create_app(metadata, LocalArtifactStore(str(store_path.parent / "artifacts")))
    metadata.close()


def _call(app: FastAPI, method: str, path: str, **kwargs: object) -> httpx.Response:
    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.request(method, path, **kwargs)  # type: ignore[arg-type]

    return asyncio.run(call())


def _positions(page: httpx.Response) -> list[int]:
    return [int(seq) for seq in ROW.findall(page.text)]


def _next_link(page: httpx.Response) -> str | None:
    found = re.search(r'<a href="([^"]+)" rel="next">', page.text)
    return None if found is None else found.group(1).replace("&amp;", "&")


def test_the_log_is_listed_newest_first_a_page_at_a_time(app: FastAPI) -> None:
    seen: list[int] = []
    link: str | None = "/ui/audit?per_page=3"
    pages = 0
    while link is not None:
        page = _call(app, "GET", link)
        assert page.status_code == 200
        assert len(_positions(page)) <= 3
        seen += _positions(page)
        link, pages = _next_link(page), pages + 1
    assert seen == list(range(EVENTS, 0, -1)) and pages == 3


def test_the_filters_are_the_stores_as_loopml_audit_log_takes_them(app: FastAPI) -> None:
    by_actor = _call(app, "GET", "/ui/audit?actor=bo")
    assert _positions(by_actor) == [6, 4, 2]
    assert 'value="bo"' in by_actor.text and ">Clear</a>" in by_actor.text
    by_target = _call(app, "GET", "/ui/audit?target=model:m3")
    assert _positions(by_target) == [4]
    prefix = _call(app, "GET", "/ui/audit?target=model:&actor=ana&per_page=2")
    assert _positions(prefix) == [7, 5]
    later = _call(app, "GET", _next_link(prefix) or "")
    assert _positions(later) == [3, 1] and 'rel="first"' in later.text
    recent = _call(app, "GET", "/ui/audit?since=1h")
    assert len(_positions(recent)) == EVENTS
    future = _call(app, "GET", "/ui/audit?since=2999-01-01")
    assert _positions(future) == [] and "No events match these filters." in future.text
    empty_fields = _call(app, "GET", "/ui/audit?since=&actor=&target=")  # the form, left blank
    assert len(_positions(empty_fields)) == EVENTS


def test_bad_filters_and_bounds_are_refused_with_the_error_page(app: FastAPI) -> None:
    for query, words in (
        ("since=yesterday", "'since' must be a duration"),
        (f"per_page={MAX_PER_PAGE + 1}", "per_page"),
        ("page_token=forged", "page_token"),
        (f"actor={'a' * 251}", "actor"),
    ):
        answer = _call(app, "GET", f"/ui/audit?{query}")
        assert answer.status_code == 400 and words in html.unescape(answer.text), query
        assert answer.headers["content-type"].startswith("text/html")


def test_verify_reports_an_intact_chain_then_the_first_tampered_position(
    app: FastAPI, store_path: Path
) -> None:
    intact = _call(app, "POST", "/ui/audit/verify", headers={"HX-Request": "true"})
    assert intact.status_code == 200
    assert f"Intact: all {EVENTS} entries" in intact.text and "<html" not in intact.text
    with sqlite3.connect(store_path) as raw:
        raw.execute("UPDATE events SET actor = 'mallory' WHERE seq = 3")
    metadata = open_metadata_store(f"sqlite:///{store_path}")
    try:
        expected = verify_log(metadata)  # what 'loopml audit verify' says
    finally:
        metadata.close()
    broken = _call(app, "POST", "/ui/audit/verify")  # a plain form post: the whole page
    assert broken.status_code == 200 and '<html lang="en">' in broken.text
    assert expected.first_bad == 3
    assert f"Broken at position 3: {expected.problem}" in html.unescape(broken.text)
    assert _positions(broken)[0] == EVENTS
