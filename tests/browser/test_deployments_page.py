"""The deployments page in a real browser, served by a real ``loopml server`` over a project
with a real deployment and its prediction log (tests/browser/deployments_data.py): the list
leads to the deployment; its page shows traffic, latency, errors, the drift grid with the
drifted feature first, performance from labels beside the CBPE estimate, the alert that
fired and the loop's decision with its evidence; the window control and "Earlier windows"
reload it. Nothing but 127.0.0.1 is requested, and the console stays free of errors."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from loopml.tracking import Client
from tests.browser.conftest import WatchedPage
from tests.browser.deployments_data import (
    DRIFT_FROM,
    DRIFTED,
    LABELLED,
    REQUESTS,
    WINDOWS,
    DeploymentProject,
    build_deployment_project,
)
from tests.fixtures.server import PlatformServer, start_platform_server, wait_until_ready


@dataclass(frozen=True)
class Served:
    server: PlatformServer
    project: DeploymentProject

    @property
    def page_url(self) -> str:
        return f"{self.server.url}/ui/deployments/{self.project.deployment_id}"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp("deployments-server")
    with Client(f"sqlite:///{folder / 'loopml.db'}", str(folder / "artifacts")) as client:
        project = build_deployment_project(folder, client)
    # the server keeps its summaries of the log's parts in the user's cache: this test's
    started = start_platform_server(folder, env={"XDG_CACHE_HOME": str(folder / "cache")})
    try:
        assert wait_until_ready(started), started.log()
        served = Served(started, project)
        # the first look imports the monitoring stack and summarises every log part (then
        # cached): seconds on a busy machine, more than a browser test waits for a click
        assert httpx.get(served.page_url, timeout=300).status_code == 200
        yield served
    finally:
        started.stop()


def test_the_list_shows_the_deployment_and_leads_to_its_page(
    served: Served, watched_page: WatchedPage, tmp_path: Path
) -> None:
    watched_page.goto(f"{served.server.url}/ui/deployments")
    page = watched_page.page
    assert page.locator("h1").inner_text() == "Deployments"
    row = page.locator(f"tr[data-deployment-id='{served.project.deployment_id}']")
    assert row.locator("td").nth(0).inner_text() == "cancer@champion"
    assert row.locator("td").nth(2).inner_text() == "live"
    page.screenshot(path=tmp_path / "deployments-list.png", full_page=True)
    row.get_by_role("link").click()
    page.wait_for_load_state("load")
    assert page.url == served.page_url
    assert "cancer@champion" in page.locator("h1").inner_text()
    assert watched_page.console_errors == []
    assert watched_page.off_loopback() == []


def test_the_deployment_page_shows_traffic_latency_drift_performance_and_decisions(
    served: Served, watched_page: WatchedPage, tmp_path: Path
) -> None:
    watched_page.goto(served.page_url)
    page = watched_page.page
    # traffic: a bar per window, each the window's requests
    bars = page.locator("#chart-traffic rect.bar")
    assert bars.count() == WINDOWS
    assert bars.first.locator("title").text_content() == f"{REQUESTS} requests"
    # latency: p50, p95 and p99 in every window; the error rate in every window
    for series in range(3):
        assert page.locator(f"#chart-latency .series-{series} circle").count() == WINDOWS
    assert page.locator("#chart-errors circle").count() == WINDOWS
    # drift: the shifted feature leads the grid and drifted in the windows it was shifted in
    grid = page.locator("table.drift tbody tr")
    assert grid.count() == 20  # capped, with a note
    assert grid.first.get_attribute("data-feature") == DRIFTED
    cells = grid.first.locator("td")
    assert cells.count() == WINDOWS
    for window in range(DRIFT_FROM, WINDOWS):
        assert cells.nth(window).get_attribute("class") == "drift-yes"
        assert float(cells.nth(window).inner_text().split()[0]) > 0.5
    assert float(cells.nth(0).inner_text().split()[0]) < 0.5
    assert page.get_by_text(
        f"{served.project.features - 20} more of the {served.project.features} features"
    ).is_visible()
    # performance: accuracy where labels came, the CBPE estimate in every window
    assert page.locator("#chart-performance .series-0 circle").count() == LABELLED
    assert page.locator("#chart-performance .series-1 circle").count() == WINDOWS
    legend = page.locator("#chart-performance ul.legend").inner_text()
    assert "accuracy (labels)" in legend and "estimated (CBPE)" in legend
    windows = page.locator("table.windows tbody tr")
    assert windows.count() == WINDOWS
    assert "labels)" in windows.nth(WINDOWS - 1).locator("td").nth(9).inner_text()
    assert windows.first.locator("td").nth(9).inner_text() == ""  # no labels yet
    # the alert that fired, and the loop's decision with its evidence
    assert page.locator("table.alerts tbody th").inner_text() == "drift-high"
    decision = page.locator(f"tr[data-decision-id='{served.project.decision_id}']")
    assert "held" in decision.locator(".decision-state").inner_text()
    assert "drift_share 0.2 >= 0.03" in decision.locator("summary").inner_text()
    assert "candidate 2" in decision.inner_text()
    assert served.project.pipeline_run_id[:8] in decision.inner_text()
    evidence = decision.locator("dl.evidence")
    assert not evidence.is_visible()
    decision.locator("summary").focus()
    page.keyboard.press("Enter")  # the evidence opens from the keyboard
    assert evidence.is_visible() and "threshold" in evidence.inner_text()
    page.screenshot(path=tmp_path / "deployment.png", full_page=True)
    assert watched_page.console_errors == []
    assert watched_page.off_loopback() == []


def test_the_window_control_and_earlier_windows_reload_the_page(
    served: Served, watched_page: WatchedPage, tmp_path: Path
) -> None:
    watched_page.goto(served.page_url)
    page = watched_page.page
    page.get_by_label("Window", exact=True).select_option("1d")
    page.get_by_role("spinbutton", name="Windows").fill("2")
    page.get_by_role("button", name="Show").click()
    page.wait_for_load_state("load")
    assert "window=1d" in page.url and "windows=2" in page.url
    assert page.get_by_label("Window", exact=True).input_value() == "1d"
    # the day's window holds every request (all were logged today or yesterday)
    requests = page.locator("table.windows tbody tr td:nth-of-type(2)").all_inner_texts()
    assert sum(int(text.replace(",", "")) for text in requests) == WINDOWS * REQUESTS
    page.screenshot(path=tmp_path / "deployment-days.png", full_page=True)

    page.get_by_role("link", name="Earlier windows").click()
    page.wait_for_load_state("load")
    assert "until=" in page.url
    assert page.get_by_role("link", name="Latest windows").is_visible()
    assert watched_page.console_errors == []
    assert watched_page.off_loopback() == []
