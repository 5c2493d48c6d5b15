"""The models page in a real browser, on a real ``loopml server --auth`` holding two trained
and gated versions of a scikit-learn model (iris) under a promotion policy that needs a passed
gate and an approval. An approver promotes the better version after confirming (first refused
with 409 for want of an approval, then approved), rolls back, and sees both moves in the alias
history; a viewer sees no button, and a POST forged with the viewer's token is refused.
Nothing but 127.0.0.1 is requested, and the console stays free of errors."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from loopml.core.roles import Role
from loopml.models.registry import set_alias
from loopml.stores.identity.sql import SqlIdentityStore
from loopml.tracking import Client
from tests.browser.conftest import TIMEOUT_MS, WatchedPage
from tests.browser.models_data import MODEL, build_registry
from tests.fixtures.server import PlatformServer, start_platform_server, wait_until_ready

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage, Error, Request


@dataclass
class AuthServer:
    server: PlatformServer
    tokens: dict[str, str]  # role -> token


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthServer]:
    folder = tmp_path_factory.mktemp("models-server")
    uri = f"sqlite:///{folder / 'loopml.db'}"
    with Client(uri, str(folder / "artifacts")) as client:
        data = build_registry(client, folder / "work")
        # the first champion, set on the store itself before the server enforces anything
        set_alias(MODEL, "champion", data.versions[0], reason="the first model", client=client)
    identity = SqlIdentityStore(uri)
    tokens = {}
    try:
        for role in (Role.VIEWER, Role.APPROVER):
            identity.add_user(f"{role.value}-user")
            identity.grant_role(f"{role.value}-user", "default", role)
            tokens[role.value] = identity.create_token(f"{role.value}-user").secret
    finally:
        identity.close()
    env = {
        "LOOPML_AUTH": "1",
        "LOOPML_AUTH_CACHE_SECONDS": "0",
        "LOOPML_SERVER_POLICY": str(data.policy),
    }
    server = start_platform_server(folder, env=env)
    try:
        assert wait_until_ready(server), server.log()
        yield AuthServer(server, tokens)
    finally:
        server.stop()


@contextlib.contextmanager
def signed_in(browser: Browser, token: str) -> Iterator[WatchedPage]:
    """A page whose every request carries ``token`` (until the dashboard has a sign-in page),
    recording console errors and requested URLs like ``watched_page``."""
    context = browser.new_context(
        viewport={"width": 1280, "height": 900},
        extra_http_headers={"Authorization": f"Bearer {token}"},
    )
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    watched = WatchedPage(page)

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            watched.console_errors.append(f"{message.text} ({message.location})")

    def on_page_error(error: Error) -> None:
        watched.console_errors.append(f"uncaught: {error}")

    def on_request(request: Request) -> None:
        watched.requests.append(request.url)

    page.on("console", on_console)
    page.on("pageerror", on_page_error)
    page.on("request", on_request)
    try:
        yield watched
    finally:
        context.close()


def _history(watched: WatchedPage) -> list[list[str]]:
    """The alias history's rows, newest first: [alias, from, to, who]."""
    rows = watched.page.locator("table.history tbody tr")
    found = []
    for index in range(rows.count()):
        cells = rows.nth(index).locator("td, th").all_inner_texts()
        found.append([cells[1], cells[2], cells[3], cells[4]])
    return found


def test_an_approver_promotes_after_confirming_then_rolls_back(
    auth_server: AuthServer, browser: Browser, tmp_path: Path
) -> None:
    url = auth_server.server.url
    with signed_in(browser, auth_server.tokens["approver"]) as watched:
        page = watched.page
        watched.goto(f"{url}/ui/models")
        assert page.locator("table.models").get_by_text("@champion → 1").is_visible()
        page.get_by_role("link", name=MODEL).click()
        page.wait_for_load_state("load")
        assert page.locator("h1").inner_text() == MODEL
        # the gates side by side: the tree fails accuracy, the regression passes
        gates = page.locator("table.gates")
        assert "FAIL" in gates.inner_text() and "0.66" in gates.inner_text()
        assert page.locator("figure.lineage svg g.node").count() >= 5
        page.screenshot(path=tmp_path / "model-page.png", full_page=True)

        # promote version 2 without an approval: the server's policy says what is missing
        page.locator('table.versions tr[data-version="2"]').get_by_role(
            "link", name="Promote…"
        ).click()
        page.wait_for_load_state("load")
        assert "Promote iris-species@2 to @champion?" in page.locator("h1").inner_text()
        page.get_by_label("Reason (kept in the history)").fill("beats the tree on the holdout")
        page.get_by_role("button", name="Promote to @champion").click()
        page.wait_for_load_state("load")
        refusal = page.get_by_role("alert").inner_text()
        assert "needs an approval" in refusal and "iris-species@2 cannot become champion" in refusal
        page.screenshot(path=tmp_path / "promotion-refused.png", full_page=True)

        # approve it, after confirming
        page.get_by_role("link", name=f"Back to {MODEL}").click()
        page.wait_for_load_state("load")
        page.locator('table.versions tr[data-version="2"]').get_by_role(
            "link", name="Approve…"
        ).click()
        page.wait_for_load_state("load")
        page.get_by_label("What you checked").fill("gates and lineage")
        page.get_by_role("button", name="Approve version 2").click()
        page.wait_for_load_state("load")
        assert "approval was recorded" in page.get_by_role("status").first.inner_text()

        # now the promotion goes through
        page.locator('table.versions tr[data-version="2"]').get_by_role(
            "link", name="Promote…"
        ).click()
        page.wait_for_load_state("load")
        page.get_by_label("Reason (kept in the history)").fill("beats the tree on the holdout")
        page.get_by_role("button", name="Promote to @champion").click()
        page.wait_for_load_state("load")
        assert re.search(r"/ui/models/iris-species\?version=2&notice=promoted", page.url)
        assert page.locator('table.aliases tr[data-alias="champion"] td').first.inner_text() == "2"
        assert _history(watched)[0] == ["@champion", "1", "2", "approver-user"]

        # roll back, after confirming
        page.get_by_role("link", name="Roll back to version 1").click()
        page.wait_for_load_state("load")
        assert "Roll iris-species@champion back to version 1?" in page.locator("h1").inner_text()
        page.get_by_role("button", name="Roll back to version 1").click()
        page.wait_for_load_state("load")
        assert page.locator('table.aliases tr[data-alias="champion"] td').first.inner_text() == "1"
        history = _history(watched)
        assert history[:2] == [
            ["@champion", "2", "1", "approver-user"],
            ["@champion", "1", "2", "approver-user"],
        ]
        assert history[2][:3] == ["@champion", "unset", "1"]  # set on the store at first
        assert "rollback from version 2" in page.locator("table.history").inner_text()
        page.screenshot(path=tmp_path / "after-rollback.png", full_page=True)

        # the one error: Chromium reports the refused promotion's 409 page as a failed load
        refused = [e for e in watched.console_errors if "status of 409 (Conflict)" in e]
        assert len(refused) == 1 and f"/ui/models/{MODEL}/promote" in refused[0]
        assert [e for e in watched.console_errors if e not in refused] == []
        assert watched.off_loopback() == []


def test_a_viewer_sees_no_button_and_a_forged_post_is_refused(
    auth_server: AuthServer, browser: Browser, tmp_path: Path
) -> None:
    url = auth_server.server.url
    with signed_in(browser, auth_server.tokens["viewer"]) as watched:
        page = watched.page
        watched.goto(f"{url}/ui/models/{MODEL}")
        assert page.locator("table.versions tbody tr").count() == 2
        for name in ("Promote…", "Approve…", "Roll back to version 1"):
            assert page.get_by_role("link", name=name).count() == 0, name
        assert page.get_by_role("button").count() == 0
        page.screenshot(path=tmp_path / "viewer.png", full_page=True)
        forged = page.request.post(
            f"{url}/ui/models/{MODEL}/promote",
            form={"version": "2", "alias": "champion", "reason": "forged", "csrf": ""},
        )
        assert forged.status == 403 and "models:promote" in forged.text()
        approval = page.request.post(f"{url}/ui/models/{MODEL}/approve", form={"version": "2"})
        assert approval.status == 403
        assert watched.console_errors == []
        assert watched.off_loopback() == []
