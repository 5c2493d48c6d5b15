"""Every error under ``/ui`` is the dashboard's HTML error page with the error's status, on
both apps that serve it (``loopml server``'s, with auth on, and ``loopml ui``'s): one the
guard raises before the handler (403), a query value that does not validate (400, never
FastAPI's 422), an unknown page or static file (404), a method a page does not answer (405),
what a page's capability refuses (404), and an unexpected failure (500)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI

from loopml.core.roles import Role
from loopml.dashboard.local_app import local_app
from loopml.dashboard.sources import DashboardSources
from loopml.server import create_app
from loopml.server.auth import TokenAuthenticator
from loopml.stores.artifacts.local import LocalArtifactStore
from loopml.stores.identity.sql import SqlIdentityStore
from loopml.stores.registry import open_metadata_store

# (method, path, status): the same on both apps
ERRORS = (
    ("GET", "/ui/no-such-page", 404),
    ("GET", "/ui/static/no-such-file.css", 404),
    ("GET", "/ui/?per_page=many", 400),
    ("GET", "/ui/runs/abc/series?points=1", 400),
    ("GET", "/ui/data/penguins/first", 400),
    ("GET", "/ui/runs/no-such-run", 404),
    ("POST", "/ui/", 405),
    ("GET", "/ui/boom", 500),
)


@dataclass(frozen=True)
class Apps:
    server: FastAPI
    local: FastAPI
    viewer: str  # tokens on the server
    outsider: str  # a user without any role


def _boom() -> None:
    raise RuntimeError("an unexpected failure inside a page")


@pytest.fixture(scope="module")
def apps(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Apps]:
    folder = tmp_path_factory.mktemp("dashboard-errors")
    uri = f"sqlite:///{folder / 'loopml.db'}"
    identity, metadata = SqlIdentityStore(uri), open_metadata_store(uri)
    identity.add_user("vera")
    identity.grant_role("vera", "default", Role.VIEWER)
    identity.add_user("olga")
    artifacts = LocalArtifactStore(str(folder / "artifacts"))
    server = create_app(
        metadata,
        artifacts,
        identity_store=identity,
        authenticator=TokenAuthenticator(identity, cache_seconds=0),
    )
    local = local_app(DashboardSources(metadata, artifacts))
    for app in (server, local):  # a page that fails for a reason nobody planned
        app.add_api_route("/ui/boom", _boom, methods=["GET"])
    yield Apps(
        server,
        local,
        identity.create_token("vera").secret,
        identity.create_token("olga").secret,
    )
    metadata.close()
    identity.close()


def _call(app: FastAPI, calls: list[tuple[str, str]], token: str | None) -> list[httpx.Response]:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}

    async def fetch() -> list[httpx.Response]:
        # the 500 is answered, then re-raised for the server's log: keep the answer
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return [await client.request(m, p, headers=headers) for m, p in calls]

    return asyncio.run(fetch())


def _assert_error_page(answer: httpx.Response, status: int, what: str) -> None:
    assert answer.status_code == status, (what, answer.status_code, answer.text[:300])
    assert answer.headers["content-type"].startswith("text/html"), what
    assert "<h1>The dashboard could not show this page</h1>" in answer.text, what
    assert f"HTTP status {status}" in answer.text, what
    assert "script-src 'self'" in answer.headers["content-security-policy"], what
    assert "Traceback" not in answer.text and "RuntimeError" not in answer.text, what


@pytest.mark.parametrize("which", ["server", "local"])
def test_every_error_under_ui_is_the_html_error_page_with_its_status(
    apps: Apps, which: str
) -> None:
    app, token = (apps.server, apps.viewer) if which == "server" else (apps.local, None)
    answers = _call(app, [(method, path) for method, path, _ in ERRORS], token)
    for (method, path, status), answer in zip(ERRORS, answers, strict=True):
        _assert_error_page(answer, status, f"{which}: {method} {path}")


def test_a_refusal_by_the_guard_before_the_handler_is_the_403_page(apps: Apps) -> None:
    pages = ["/ui/", "/ui/audit", "/ui/runs/no-such-run", "/ui/?per_page=many"]
    answers = _call(apps.server, [("GET", path) for path in pages], apps.outsider)
    for path, answer in zip(pages, answers, strict=True):
        _assert_error_page(answer, 403, path)
        assert "/ui/login?next=" in answer.text  # sign in as someone else


def test_the_api_keeps_its_json_errors(apps: Apps) -> None:
    (unknown,) = _call(apps.server, [("GET", "/api/v1/runs/no-such-run")], apps.viewer)
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "not_found"
