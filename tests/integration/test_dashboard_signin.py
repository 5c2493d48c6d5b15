"""Signing in to the dashboard of a server with auth on (the app in process, over real SQLite
metadata and identity stores): the session cookie's flags, the redirects to and from
``/ui/login`` (and the refusal of a ``next`` that leaves the dashboard), CSRF on every
cookie-authenticated unsafe request, and errors under ``/ui`` as pages (``/api`` stays JSON).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from loopml.core.roles import Role
from loopml.dashboard.local_app import local_app
from loopml.dashboard.session import CSRF_HEADER, SESSION_COOKIE, csrf_value, safe_next
from loopml.dashboard.sources import DashboardSources
from loopml.server import create_app
from loopml.server.auth import TokenAuthenticator
from loopml.stores.artifacts.local import LocalArtifactStore
from loopml.stores.identity.sql import SqlIdentityStore
from loopml.stores.registry import open_metadata_store

# what a browser's navigation asks for
BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


@dataclass
class AuthApp:
    app: FastAPI
    tokens: dict[str, str]  # viewer, editor, outsider (no role here), revoked


@pytest.fixture(scope="module")
def auth_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthApp]:
    folder = tmp_path_factory.mktemp("signin")
    uri = f"sqlite:///{folder / 'loopml.db'}"
    identity = SqlIdentityStore(uri)
    metadata = open_metadata_store(uri)
    tokens: dict[str, str] = {}
    for user, role in (("vera", Role.VIEWER), ("eddie", Role.EDITOR)):
        identity.add_user(user)
        identity.grant_role(user, "default", role)
        tokens[role.value] = identity.create_token(user).secret
    identity.add_user("olga")
    tokens["outsider"] = identity.create_token("olga").secret
    revoked = identity.create_token("vera")
    identity.revoke_token(revoked.info.id)
    tokens["revoked"] = revoked.secret
    authenticator = TokenAuthenticator(identity, cache_seconds=0)
    app = create_app(
        metadata,
        LocalArtifactStore(str(folder / "artifacts")),
        identity_store=identity,
        authenticator=authenticator,
    )
    yield AuthApp(app, tokens)
    metadata.close()
    identity.close()


def _call(
    app: FastAPI,
    method: str,
    path: str,
    *,
    cookie: str | None = None,
    base_url: str = "http://test",
    **kwargs: object,
) -> httpx.Response:
    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        cookies = {} if cookie is None else {SESSION_COOKIE: cookie}
        async with httpx.AsyncClient(
            transport=transport, base_url=base_url, cookies=cookies
        ) as client:
            return await client.request(method, path, **kwargs)  # type: ignore[arg-type]

    return asyncio.run(call())


def _login(app: FastAPI, token: str, next_: str = "", **kwargs: object) -> httpx.Response:
    form = {"token": token, "next": next_}
    return _call(app, "POST", "/ui/login", data=form, **kwargs)


def test_a_browser_without_a_session_is_sent_to_sign_in_and_back(auth_app: AuthApp) -> None:
    page = _call(auth_app.app, "GET", "/ui/audit?actor=vera", headers=BROWSER)
    assert page.status_code == 303
    assert page.headers["location"] == "/ui/login?next=%2Fui%2Faudit%3Factor%3Dvera"
    form = _call(auth_app.app, "GET", page.headers["location"])
    assert form.status_code == 200 and 'name="token"' in form.text
    assert 'name="next" value="/ui/audit?actor=vera"' in form.text
    assert "set-cookie" not in form.headers
    signed_in = _login(auth_app.app, auth_app.tokens["viewer"], "/ui/audit?actor=vera")
    assert signed_in.status_code == 303 and signed_in.headers["location"] == "/ui/audit?actor=vera"


def test_the_session_cookie_is_httponly_strict_site_wide_and_secure_over_https(
    auth_app: AuthApp,
) -> None:
    token = auth_app.tokens["viewer"]
    plain = _login(auth_app.app, token).headers["set-cookie"]
    attributes = {part.strip().split("=")[0].lower() for part in plain.split(";")}
    assert plain.startswith(f"{SESSION_COOKIE}={token};")
    assert {"httponly", "path", "samesite"} <= attributes and "secure" not in attributes
    assert "Path=/;" in plain + ";" and "SameSite=strict" in plain
    secure = _login(auth_app.app, token, base_url="https://test").headers["set-cookie"]
    assert "Secure" in secure and "HttpOnly" in secure


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/ui/",
        "//evil.example/ui/",
        "/\\evil.example/ui/",
        "javascript:alert(1)",
        "/api/v1/events",
        "/ui/\r\nSet-Cookie: x=1",
        "ui/audit",
    ],
)
def test_a_next_that_leaves_the_dashboard_goes_home_instead(auth_app: AuthApp, target: str) -> None:
    answer = _login(auth_app.app, auth_app.tokens["viewer"], target)
    assert answer.status_code == 303 and answer.headers["location"] == "/ui/"
    assert safe_next(target, "/ui/") == "/ui/"


def test_a_refused_token_gets_the_form_again_with_a_401_and_is_not_echoed(
    auth_app: AuthApp,
) -> None:
    for token in (auth_app.tokens["revoked"], "lml_0000000000000000_notatoken", "bad token!"):
        answer = _login(auth_app.app, token, "/ui/audit")
        assert answer.status_code == 401 and "set-cookie" not in answer.headers
        assert "This token was refused" in answer.text and token not in answer.text
        assert 'name="next" value="/ui/audit"' in answer.text
    empty = _login(auth_app.app, "")
    assert empty.status_code == 400 and "Paste an API token" in empty.text


def test_a_sign_in_posted_from_another_site_is_refused(auth_app: AuthApp) -> None:
    for origin in ("https://evil.example", "http://test.evil.example", "null"):
        answer = _login(auth_app.app, auth_app.tokens["viewer"], headers={"Origin": origin})
        assert answer.status_code == 403 and "set-cookie" not in answer.headers
        assert answer.headers["content-type"].startswith("text/html")
        assert "posted from another site" in answer.text
    same = _login(auth_app.app, auth_app.tokens["viewer"], headers={"Origin": "http://test"})
    assert same.status_code == 303


def test_a_signed_in_page_names_the_user_and_carries_the_csrf_value_not_the_token(
    auth_app: AuthApp,
) -> None:
    token = auth_app.tokens["viewer"]
    page = _call(auth_app.app, "GET", "/ui/audit", cookie=token)
    assert page.status_code == 200
    assert "Signed in as <strong>vera</strong>" in page.text and "Sign out" in page.text
    csrf = csrf_value(token)
    assert f'<meta name="loopml-csrf" content="{csrf}">' in page.text
    assert f'hx-headers=\'{{"X-LoopML-CSRF": "{csrf}"}}\'' in page.text
    assert token not in page.text
    # the same page over a Bearer token: no cookie session, so no CSRF value and no sign-out
    bearer = _call(auth_app.app, "GET", "/ui/audit", headers={"Authorization": f"Bearer {token}"})
    assert "Signed in as <strong>vera</strong>" in bearer.text
    assert "loopml-csrf" not in bearer.text and "Sign out" not in bearer.text


def test_a_cookie_post_without_the_csrf_value_is_refused(auth_app: AuthApp) -> None:
    token = auth_app.tokens["viewer"]
    csrf = csrf_value(token)
    bare = _call(auth_app.app, "POST", "/ui/audit/verify", cookie=token)
    wrong = _call(
        auth_app.app, "POST", "/ui/audit/verify", cookie=token, headers={CSRF_HEADER: "x"}
    )
    other = csrf_value(auth_app.tokens["editor"])  # another session's value
    stolen = _call(
        auth_app.app, "POST", "/ui/audit/verify", cookie=token, headers={CSRF_HEADER: other}
    )
    for refused in (bare, wrong, stolen):
        assert refused.status_code == 403 and "CSRF" in refused.text
        assert refused.headers["content-type"].startswith("text/html")
    by_header = _call(
        auth_app.app, "POST", "/ui/audit/verify", cookie=token, headers={CSRF_HEADER: csrf}
    )
    by_form = _call(auth_app.app, "POST", "/ui/audit/verify", cookie=token, data={"csrf": csrf})
    assert by_header.status_code == 200 and by_form.status_code == 200
    assert "Intact" in by_header.text and "Intact" in by_form.text


def test_the_api_takes_the_cookie_too_with_the_same_csrf_rule(auth_app: AuthApp) -> None:
    token = auth_app.tokens["editor"]
    body = {"name": "made-from-the-browser"}
    listed = _call(auth_app.app, "GET", "/api/v1/experiments", cookie=token)
    assert listed.status_code == 200
    refused = _call(auth_app.app, "POST", "/api/v1/experiments", cookie=token, json=body)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "permission_denied"  # /api errors stay JSON
    made = _call(
        auth_app.app,
        "POST",
        "/api/v1/experiments",
        cookie=token,
        json=body,
        headers={CSRF_HEADER: csrf_value(token)},
    )
    assert made.status_code in (200, 201), made.text
    # a Bearer token needs no CSRF value: no browser sends it by itself
    bearer = _call(
        auth_app.app,
        "POST",
        "/api/v1/experiments",
        json={"name": "made-by-a-script"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert bearer.status_code in (200, 201), bearer.text


def test_sign_out_clears_the_cookie_and_needs_the_csrf_value(auth_app: AuthApp) -> None:
    token = auth_app.tokens["viewer"]
    forged = _call(auth_app.app, "POST", "/ui/logout", cookie=token)
    assert forged.status_code == 403 and "set-cookie" not in forged.headers
    out = _call(auth_app.app, "POST", "/ui/logout", cookie=token, data={"csrf": csrf_value(token)})
    assert out.status_code == 303 and out.headers["location"] == "/ui/login"
    cleared = out.headers["set-cookie"]
    assert cleared.startswith(f'{SESSION_COOKIE}="";') and "Max-Age=0" in cleared


def test_a_revoked_token_in_the_cookie_is_signed_out(auth_app: AuthApp) -> None:
    page = _call(auth_app.app, "GET", "/ui/", cookie=auth_app.tokens["revoked"], headers=BROWSER)
    assert page.status_code == 303 and page.headers["location"].startswith("/ui/login?next=")
    # a script (no Accept: text/html) or a refused Bearer token gets the 401 itself
    script = _call(auth_app.app, "GET", "/ui/", cookie=auth_app.tokens["revoked"])
    bearer = _call(
        auth_app.app,
        "GET",
        "/ui/",
        headers={**BROWSER, "Authorization": f"Bearer {auth_app.tokens['revoked']}"},
    )
    for refused in (script, bearer):
        assert refused.status_code == 401 and "Sign in as someone else" in refused.text
    # a page's htmx request after its session ended: htmx is told to load the form
    stale = _call(
        auth_app.app,
        "POST",
        "/ui/audit/verify",
        cookie=auth_app.tokens["revoked"],
        headers={"HX-Request": "true", "HX-Current-URL": "http://test/ui/audit?actor=bo"},
    )
    assert stale.status_code == 401
    assert stale.headers["HX-Redirect"] == "/ui/login?next=%2Fui%2Faudit%3Factor%3Dbo"


def test_errors_under_ui_are_pages_and_under_api_json(auth_app: AuthApp) -> None:
    app, viewer = auth_app.app, auth_app.tokens["viewer"]
    denied = _call(app, "GET", "/ui/audit", cookie=auth_app.tokens["outsider"])
    assert denied.status_code == 403 and denied.headers["content-type"].startswith("text/html")
    assert "olga lacks the permission &#39;events:read&#39;" in denied.text
    assert "Sign in as someone else" in denied.text
    for path, status in (
        ("/ui/no-such-page", 404),
        ("/ui/audit?per_page=100000", 400),
        ("/ui/audit?page_token=forged", 400),
        ("/ui/audit?since=yesterday", 400),
    ):
        answer = _call(app, "GET", path, cookie=viewer)
        assert answer.status_code == status, path
        assert answer.headers["content-type"].startswith("text/html"), path
        assert '<html lang="en">' in answer.text and "could not show this page" in answer.text
    api = _call(app, "GET", "/api/v1/no-such", cookie=viewer)
    assert api.status_code == 404 and api.json()["error"]["code"] == "not_found"
    no_token = _call(app, "GET", "/api/v1/experiments")
    assert no_token.status_code == 401 and no_token.json()["error"]["code"] == "unauthenticated"


def test_loopml_ui_shows_no_sign_in(tmp_path: Path) -> None:
    metadata = open_metadata_store(f"sqlite:///{tmp_path / 'loopml.db'}")
    try:
        app = local_app(DashboardSources(metadata))
        page = _call(app, "GET", "/ui/audit")
        login = _call(app, "GET", "/ui/login")
        bad = _call(app, "GET", "/ui/audit?per_page=0")
    finally:
        metadata.close()
    assert page.status_code == 200
    assert "Sign out" not in page.text and "Signed in" not in page.text
    assert "loopml-csrf" not in page.text and "hx-headers" not in page.text
    assert login.status_code == 404 and login.headers["content-type"].startswith("text/html")
    assert bad.status_code == 400 and "per_page" in bad.text
