"""The run page in a real browser, served by a real ``loopml server`` over a run built with
the library (params, two metrics of a few hundred steps, tags, a child run, and text, PNG,
SVG, CSV and Parquet artifacts): the metric chart renders with uPlot and follows the metric
picked, the artifact browser walks folders and previews each kind, the child run is one
click away. Nothing but 127.0.0.1 is requested, and the console stays free of errors (the
page's Content-Security-Policy included)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import WAIT_MS, WatchedPage
from tests.browser.run_page_data import STEPS, RunPageData, build
from tests.fixtures.server import PlatformServer, start_platform_server, wait_until_ready

if TYPE_CHECKING:
    from playwright.sync_api import Locator


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[PlatformServer, RunPageData]]:
    folder = tmp_path_factory.mktemp("run-page-server")
    data = build(folder)
    started = start_platform_server(folder)
    try:
        assert wait_until_ready(started), started.log()
        yield started, data
    finally:
        started.stop()


def _open(scope: Locator, name: str) -> None:
    """Follow the link named exactly ``name`` (not the download link beside it), and wait
    for the page it leads to."""
    with scope.page.expect_navigation():
        scope.get_by_role("link", name=name, exact=True).click()


def test_the_chart_renders_and_follows_the_metric_picked(
    served: tuple[PlatformServer, RunPageData], watched_page: WatchedPage, tmp_path: Path
) -> None:
    server, data = served
    watched_page.goto(f"{server.url}/ui/runs/{data.run_id}")
    page = watched_page.page
    assert page.locator("h1").inner_text().startswith("train-iris")
    page.locator("#metric-chart canvas").wait_for()
    status = page.locator("#metric-status")
    assert status.inner_text() == f"{STEPS} points."
    assert page.locator("#metric-chart .u-legend").inner_text().count("accuracy") == 1
    page.screenshot(path=tmp_path / "run-page.png", full_page=True)

    page.get_by_label("Metric", exact=True).select_option("loss")
    expect(page.locator(".u-legend").first).to_contain_text("loss", timeout=WAIT_MS)
    assert page.locator("#metric-chart canvas").count() == 1  # redrawn, not stacked
    assert any("/series?key=loss&points=1000" in url for url in watched_page.requests)
    assert status.inner_text() == f"{STEPS} points."

    assert watched_page.console_errors == []
    assert watched_page.off_loopback() == []


def test_the_artifact_browser_previews_text_images_and_tables(
    served: tuple[PlatformServer, RunPageData], watched_page: WatchedPage, tmp_path: Path
) -> None:
    server, data = served
    watched_page.goto(f"{server.url}/ui/runs/{data.run_id}")
    page = watched_page.page
    artifacts = page.locator("#artifacts")
    _open(artifacts, "files/")
    _open(artifacts, "notes.txt")
    assert "<script>alert('x')</script>" in page.locator("pre.artifact-text").inner_text()

    _open(artifacts, "plots/")
    _open(artifacts, "curve.png")
    image = page.get_by_alt_text("The image files/plots/curve.png")
    expect(page.locator("img.artifact-image")).to_have_js_property("complete", True)
    assert image.evaluate("img => img.naturalWidth") == 8
    _open(artifacts, "shape.svg")
    expect(page.locator("img.artifact-image")).to_have_js_property("complete", True)
    assert page.locator("img.artifact-image").evaluate("img => img.naturalWidth") == 20

    _open(artifacts.get_by_role("navigation", name="Artifact folders"), "files")
    _open(artifacts, "tables/")
    _open(artifacts, "iris.parquet")
    table = page.locator("table.artifact-table")
    assert "species" in table.locator("thead").inner_text()
    assert table.locator("tbody tr").count() == 50
    assert "setosa" in table.locator("tbody").inner_text()
    assert page.get_by_text("150 rows, 6 columns.").is_visible()
    page.screenshot(path=tmp_path / "run-parquet.png", full_page=True)
    _open(artifacts, "iris.csv")
    assert page.locator("table.artifact-table tbody tr").count() == 50

    with page.expect_download() as download:
        page.locator(".preview").get_by_role("link", name="Download").click()
    assert download.value.suggested_filename == "iris.csv"

    assert watched_page.console_errors == []
    assert watched_page.off_loopback() == []


def test_a_nested_run_is_one_click_away(
    served: tuple[PlatformServer, RunPageData], watched_page: WatchedPage
) -> None:
    server, data = served
    watched_page.goto(f"{server.url}/ui/runs/{data.run_id}")
    page = watched_page.page
    _open(page.locator("table.nested"), "trial-0")
    page.wait_for_url(f"**/ui/runs/{data.child_id}")
    assert page.locator("h1").inner_text().startswith("trial-0")
    page.locator("#metric-chart canvas").wait_for()
    assert page.locator("#metric-status").inner_text() == "1 points."
    page.get_by_role("link", name="train-iris").first.click()
    page.wait_for_url(f"**/ui/runs/{data.run_id}")
    assert watched_page.console_errors == []
    assert watched_page.off_loopback() == []
