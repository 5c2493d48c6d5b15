"""The dashboard in a real browser, served by a real ``loopml server`` over a store holding
one experiment with more runs than a page shows: the first page, then the next one through
the "Next page" link; and the server's /docs (Swagger UI) rendering from the package's files.
Nothing but 127.0.0.1 is ever requested, and the console stays free of errors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from loopml.core.entities import RunStatus
from loopml.tracking import Client
from tests.browser.conftest import WatchedPage
from tests.fixtures.server import PlatformServer, start_platform_server, wait_until_ready

RUNS = 57  # the page shows 50: a second page of 7
PER_PAGE = 50


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlatformServer]:
    folder = tmp_path_factory.mktemp("dashboard-server")
    client = Client(f"sqlite:///{folder / 'loopml.db'}", str(folder / "artifacts"))
    try:
        for number in range(RUNS):
            run = client.create_run("churn", name=f"run-{number:03d}")
            client.log_metric(run.id, "auc", 0.5 + number / 200)
            client.set_terminated(run.id, RunStatus.FINISHED)
    finally:
        client.close()
    started = start_platform_server(folder)
    try:
        assert wait_until_ready(started), started.log()
        yield started
    finally:
        started.stop()


def _names(watched: WatchedPage) -> list[str]:
    return watched.page.locator("table.runs tbody th[scope=row]").all_inner_texts()


def test_the_runs_page_shows_a_page_of_runs_then_the_next(
    server: PlatformServer, watched_page: WatchedPage, tmp_path: Path
) -> None:
    watched_page.goto(f"{server.url}/")  # redirected to /ui/
    page = watched_page.page
    assert page.url == f"{server.url}/ui/"
    assert page.locator("h1").inner_text() == "Runs"
    assert page.get_by_role("navigation", name="Dashboard sections").is_visible()
    assert page.get_by_role("link", name="churn").is_visible()
    newest = [f"run-{n:03d}" for n in range(RUNS - 1, -1, -1)]
    assert _names(watched_page) == newest[:PER_PAGE]
    page.screenshot(path=tmp_path / "runs-first-page.png", full_page=True)

    page.get_by_role("link", name="Next page").click()
    page.wait_for_load_state("load")
    assert "page_token=" in page.url
    assert _names(watched_page) == newest[PER_PAGE:]
    assert page.get_by_role("link", name="Next page").count() == 0
    assert page.get_by_role("link", name="First page").is_visible()
    page.screenshot(path=tmp_path / "runs-second-page.png", full_page=True)

    assert watched_page.console_errors == []
    assert watched_page.off_loopback() == []
    assert any(url.endswith("/ui/static/dashboard.css") for url in watched_page.requests)


def test_the_api_docs_render_from_the_packages_own_files(
    server: PlatformServer, watched_page: WatchedPage, tmp_path: Path
) -> None:
    watched_page.goto(f"{server.url}/docs")
    page = watched_page.page
    page.locator(".swagger-ui .opblock").first.wait_for()  # the operations are listed
    page.screenshot(path=tmp_path / "docs.png")
    assert watched_page.console_errors == []
    assert watched_page.off_loopback() == []
    assert f"{server.url}/openapi.json" in watched_page.requests


def _auc_values(watched: WatchedPage) -> list[float]:
    # the default columns: the first metrics of the page (here the only one, auc)
    cells = watched.page.locator("table.runs tbody tr td.num").all_inner_texts()
    return [float(text) for text in cells]


def test_the_runs_table_sorts_filters_and_says_where_a_filter_is_wrong(
    server: PlatformServer, watched_page: WatchedPage, tmp_path: Path
) -> None:
    watched_page.goto(f"{server.url}/ui/")
    page = watched_page.page
    with page.expect_navigation():
        page.get_by_role("link", name="metrics.auc").click()  # largest first
    assert "sort=metrics.auc" in page.url and "dir=desc" in page.url
    values = _auc_values(watched_page)
    assert values == sorted(values, reverse=True) and len(values) == PER_PAGE
    header = page.locator("th[aria-sort=descending]")
    assert header.inner_text().startswith("metrics.auc")
    header.get_by_role("link").focus()  # the keyboard sorts the other way
    with page.expect_navigation():
        page.keyboard.press("Enter")
    values = _auc_values(watched_page)
    assert values == sorted(values) and values[0] == 0.5

    page.get_by_label("Filter", exact=True).fill("metrics.auc >= 0.75 and name like 'run-0%'")
    with page.expect_navigation():
        page.get_by_label("Filter", exact=True).press("Enter")
    assert _names(watched_page) == [f"run-{n:03d}" for n in range(50, RUNS)]  # still ascending
    page.screenshot(path=tmp_path / "runs-filtered.png", full_page=True)

    page.get_by_label("Filter", exact=True).fill("metrics.auc >= 0.75 or status = 'FINISHED'")
    with page.expect_navigation():
        page.get_by_label("Filter", exact=True).press("Enter")
    error = page.get_by_role("alert")
    assert "Expected 'and', got 'or'" in error.inner_text()
    caret = error.locator("pre").inner_text().split("\n")[1]
    assert caret == " " * len("metrics.auc >= 0.75 ") + "^"
    assert page.get_by_label("Filter", exact=True).get_attribute("aria-invalid") == "true"
    page.screenshot(path=tmp_path / "runs-filter-error.png", full_page=True)

    page.get_by_label("Filter", exact=True).fill("")
    page.get_by_label("Name contains").fill("run-05")
    page.get_by_label("Per page").select_option("20")
    with page.expect_navigation():
        page.get_by_role("button", name="Apply").click()
    assert _names(watched_page) == [f"run-{n:03d}" for n in range(50, 57)]
    assert "per_page=20" in page.url

    # the wrong filter's page answers 400 (its status says the request was refused), which
    # chromium reports on the console; nothing else may be there
    refused, *others = watched_page.console_errors
    assert "status of 400" in refused and "or+status" in refused
    assert others == []
    assert watched_page.off_loopback() == []
