"""Signing in to a real ``loopml server --auth`` in a real browser, then the audit page.

A viewer is sent to the sign-in form, is refused with a wrong token, signs in with their
own, sees the pages (named in the header), reads the audit log newest first, filters it,
pages through it, verifies it (htmx sends the session's CSRF value from ``<body>``), and
signs out. Nothing but 127.0.0.1 is requested and the console stays free of errors.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from loopml.core.roles import Role
from loopml.dashboard.session import SESSION_COOKIE
from loopml.stores.identity.sql import SqlIdentityStore
from loopml.stores.remote.metadata import HttpMetadataStore
from tests.browser.conftest import WatchedPage, sign_in
from tests.fixtures.server import PlatformServer, start_platform_server, wait_until_ready

EXPERIMENTS = 12  # each create is an event by "adam", through the server


@dataclass
class AuthServer:
    server: PlatformServer
    viewer: str  # vera's token
    events: int  # how many the log holds


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthServer]:
    folder = tmp_path_factory.mktemp("signin-server")
    identity = SqlIdentityStore(f"sqlite:///{folder / 'loopml.db'}")
    try:
        for user, role in (("vera", Role.VIEWER), ("adam", Role.ADMIN)):
            identity.add_user(user)
            identity.grant_role(user, "default", role)
        viewer = identity.create_token("vera").secret
        admin = identity.create_token("adam").secret
    finally:
        identity.close()
    server = start_platform_server(folder, env={"LOOPML_AUTH": "1"})
    try:
        assert wait_until_ready(server), server.log()
        remote = HttpMetadataStore(server.url, token=admin)
        try:
            for n in range(EXPERIMENTS):
                remote.create_experiment(f"churn-{n:02d}")
            events = len(remote.list_events(max_results=1000).items)
        finally:
            remote.close()
        yield AuthServer(server, viewer, events)
    finally:
        server.stop()


def _positions(watched: WatchedPage) -> list[int]:
    cells = watched.page.locator("table.events tbody th[scope=row]").all_inner_texts()
    return [int(text) for text in cells]


def test_a_viewer_signs_in_reads_the_pages_and_signs_out(
    auth_server: AuthServer, watched_page: WatchedPage, tmp_path: Path
) -> None:
    url, page = auth_server.server.url, watched_page.page
    watched_page.goto(f"{url}/ui/audit")  # no session: sent to the form, to come back
    assert page.url == f"{url}/ui/login?next=%2Fui%2Faudit"
    assert page.get_by_role("heading", name="Sign in").is_visible()
    page.get_by_label("API token").fill("lml_0000000000000000_not-a-real-token")
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()
    assert page.get_by_role("alert").inner_text().startswith("This token was refused")
    assert page.context.cookies() == []
    # the refused sign-in is a 401, which Chromium reports on the console: the only error
    [refusal] = watched_page.console_errors
    assert "status of 401" in refusal and f"{url}/ui/login" in refusal
    watched_page.console_errors.clear()
    page.screenshot(path=tmp_path / "login-refused.png", full_page=True)

    page.get_by_label("API token").fill(auth_server.viewer)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()
    assert page.url == f"{url}/ui/audit"
    [cookie] = page.context.cookies()
    assert cookie["name"] == SESSION_COOKIE and cookie["httpOnly"] and cookie["path"] == "/"
    assert cookie["sameSite"] == "Strict"
    assert auth_server.viewer not in page.content()  # the token is never in a page
    assert page.locator(".session-user").inner_text() == "Signed in as vera"
    page.screenshot(path=tmp_path / "audit-signed-in.png", full_page=True)

    page.get_by_role("link", name="Runs").click()
    page.wait_for_load_state("load")
    assert page.locator("h1").inner_text() == "Runs"
    assert page.get_by_role("link", name="churn-00").is_visible()

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{url}/ui/login")
    assert page.context.cookies() == []
    watched_page.goto(f"{url}/ui/")
    assert page.url.startswith(f"{url}/ui/login?next=")
    page.screenshot(path=tmp_path / "signed-out.png", full_page=True)
    assert auth_server.viewer not in auth_server.server.log()  # never logged
    assert watched_page.console_errors == []
    assert watched_page.off_loopback() == []


def test_the_audit_page_filters_pages_and_verifies_the_log(
    auth_server: AuthServer, watched_page: WatchedPage, tmp_path: Path
) -> None:
    url, page, events = auth_server.server.url, watched_page.page, auth_server.events
    sign_in(watched_page, url, auth_server.viewer, "/ui/audit?per_page=10")
    assert _positions(watched_page) == list(range(events, events - 10, -1))
    page.get_by_role("link", name="Next page").click()
    page.wait_for_load_state("load")
    assert _positions(watched_page) == list(range(events - 10, max(events - 20, 0), -1))
    assert page.get_by_role("link", name="First page").is_visible()

    page.get_by_role("link", name="Audit").click()
    page.wait_for_load_state("load")
    page.get_by_label("Actor").fill("adam")
    page.get_by_label("Target").fill("experiment:")
    with page.expect_navigation():
        page.get_by_role("button", name="Filter").click()
    assert "actor=adam" in page.url and "target=experiment%3A" in page.url
    actors = page.locator("table.events tbody tr td:nth-child(3)").all_inner_texts()
    targets = page.locator("table.events tbody tr td:nth-child(5)").all_inner_texts()
    assert len(actors) == EXPERIMENTS and set(actors) == {"adam"}
    assert all(target.startswith("experiment:") for target in targets)
    page.screenshot(path=tmp_path / "audit-filtered.png", full_page=True)

    with page.expect_request(lambda request: request.url.endswith("/audit/verify")) as sent:
        page.get_by_role("button", name="Verify").click()
    result = page.locator("#verify-result .verdict")
    result.wait_for()
    assert result.inner_text().startswith(f"Intact: all {events} entries")
    assert "x-loopml-csrf" in sent.value.all_headers()  # from <body hx-headers>
    page.screenshot(path=tmp_path / "audit-verified.png", full_page=True)

    with sqlite3.connect(auth_server.server.folder / "loopml.db") as raw:
        raw.execute("UPDATE events SET actor = 'mallory' WHERE seq = 2")
    page.get_by_role("button", name="Verify").click()
    page.get_by_text("Broken at position 2").wait_for()
    page.screenshot(path=tmp_path / "audit-tampered.png", full_page=True)
    assert watched_page.console_errors == []
    assert watched_page.off_loopback() == []
