"""The compare page in a real browser over a real ``loopml server``: runs picked with the
runs table's checkboxes, compared (params diff, best metrics, curves drawn by uPlot from each
run's series), and the trials of a real tuning study (``loopml.tune`` on iris) drawn as
parallel coordinates. Nothing but 127.0.0.1 is requested; the console stays clean."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest
from playwright.sync_api import expect

from loopml.tracking import Client
from tests.browser.conftest import WAIT_MS, WatchedPage
from tests.browser.runs_data import EXPERIMENT, TRIALS, RunsData, make_runs
from tests.fixtures.server import PlatformServer, start_platform_server, wait_until_ready


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[PlatformServer, RunsData]]:
    folder = tmp_path_factory.mktemp("compare-server")
    with Client(f"sqlite:///{folder / 'loopml.db'}", str(folder / "artifacts")) as client:
        data = make_runs(client)
    started = start_platform_server(folder)
    try:
        assert wait_until_ready(started), started.log()
        yield started, data
    finally:
        started.stop()


def test_three_runs_picked_on_the_runs_table_are_compared_with_their_curves(
    served: tuple[PlatformServer, RunsData], watched_page: WatchedPage, tmp_path: Path
) -> None:
    server, _ = served
    watched_page.goto(f"{server.url}/ui/?experiment={EXPERIMENT}&sort=name&dir=asc")
    page = watched_page.page
    for name in ("boost-a", "forest-a", "linear-a"):
        page.get_by_label(f"Compare {name}").check()
    with page.expect_navigation():
        page.get_by_role("button", name="Compare").click()
    assert page.locator("h1").inner_text() == "Compare 3 runs"
    differing = page.locator("table.params tr.differs th").all_inner_texts()
    assert [text.replace("≠", "").replace("differs:", "").strip() for text in differing] == [
        "learning_rate",
        "model",
    ]
    best = page.locator("table.metrics td.best")
    assert best.count() == 2  # auc and val_loss: boost-a both times
    # each ticked metric is a uPlot chart with one line per run
    charts = page.locator("#compare-curves figure.curve canvas")
    charts.first.wait_for()
    expect(page.locator("#compare-curves canvas")).to_have_count(2, timeout=WAIT_MS)
    legend = page.locator("#compare-curves figure.curve").first.locator(".u-legend .u-series")
    assert legend.count() == 4  # the step axis and three runs
    page.get_by_label("val_loss").uncheck()
    expect(page.locator("#compare-curves canvas")).to_have_count(1, timeout=WAIT_MS)
    assert page.locator("#parallel-coordinates").count() == 0  # not trials of one study
    page.screenshot(path=tmp_path / "compare-runs.png", full_page=True)
    assert watched_page.console_errors == []
    assert watched_page.off_loopback() == []
    assert any("/series?key=auc" in url for url in watched_page.requests)


def test_the_trials_of_a_tuning_study_are_drawn_as_parallel_coordinates(
    served: tuple[PlatformServer, RunsData], watched_page: WatchedPage, tmp_path: Path
) -> None:
    server, data = served
    picked = data.trial_ids[:3]
    watched_page.goto(f"{server.url}/ui/compare?" + urlencode({"run": picked}, doseq=True))
    page = watched_page.page
    plot = page.locator("svg#parallel-coordinates")
    assert plot.is_visible()
    assert plot.locator("polyline").count() == TRIALS
    assert plot.locator("polyline.picked").count() == 3
    labels = plot.locator("text.pc-label").all_text_contents()
    assert labels == ["C (log)", "intercept", "objective"]
    page.locator("#compare-curves canvas").first.wait_for()  # objective and fold_accuracy
    page.screenshot(path=tmp_path / "compare-trials.png", full_page=True)
    assert watched_page.console_errors == []
    assert watched_page.off_loopback() == []
