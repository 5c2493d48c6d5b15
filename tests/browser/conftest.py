"""Browser tests: Playwright for Python driving Debian's chromium (never a downloaded browser:
``playwright install`` is not used). One browser per session; each test gets a fresh page
that records console errors, uncaught page errors and the URL of every request it makes.

Without chromium (``apt-get install chromium``) the tests skip, or fail under
``LOOPML_TEST_REQUIRE_BACKENDS=1`` (CI, ``.ci/run``, installs it).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import quote, urlsplit

import pytest

from tests.fixtures.backends import backend_unavailable

CHROMIUM_NAMES = ("chromium", "chromium-browser")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TIMEOUT_MS = 15_000
# a wait for something a page script draws (no wait_for_function: its string is eval'd in the
# page, which the dashboard's policy refuses)
WAIT_MS = 30_000
LOOPBACK_HOSTS = ("127.0.0.1",)

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage, Error, Page, Request


@dataclass
class WatchedPage:
    """A browser page and what it did: console errors, page errors, requested URLs."""

    page: Page
    console_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def goto(self, url: str) -> None:
        answer = self.page.goto(url, wait_until="load")
        assert answer is not None and answer.ok, f"{url}: {answer and answer.status}"

    def off_loopback(self) -> list[str]:
        """The requested URLs that went anywhere but 127.0.0.1 (data: URLs stay inside)."""
        return [
            url
            for url in self.requests
            if urlsplit(url).scheme not in ("data", "blob")
            and urlsplit(url).hostname not in LOOPBACK_HOSTS
        ]


def sign_in(watched: WatchedPage, server_url: str, token: str, path: str = "/ui/") -> None:
    """Sign ``watched`` in to a ``loopml server --auth`` through the dashboard's form, as a
    person does (the token goes into the session cookie), ending on ``path``."""
    watched.goto(f"{server_url}/ui/login?next={quote(path, safe='/')}")
    watched.page.get_by_label("API token").fill(token)
    with watched.page.expect_navigation(wait_until="load"):
        watched.page.get_by_role("button", name="Sign in").click()
    assert urlsplit(watched.page.url).path == urlsplit(path).path, watched.page.url


def chromium_path() -> str | None:
    return next((p for p in map(shutil.which, CHROMIUM_NAMES) if p is not None), None)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    # per module, not per session: Playwright's sync API keeps an event loop running in the
    # main thread while it is started, and later modules on the same worker call asyncio.run
    executable = chromium_path()
    if executable is None:
        backend_unavailable("no chromium on PATH (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        backend_unavailable("playwright is not installed (pip install -e '.[dev]')")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=executable, args=CHROMIUM_ARGS, timeout=60_000
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def watched_page(browser: Browser) -> Iterator[WatchedPage]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
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
