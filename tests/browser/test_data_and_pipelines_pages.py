"""The Data and Pipelines pages in a real browser, served by a real ``loopml server`` over a
real project: two versions of the Palmer penguins added with ``loopml data add`` and a
three-step pipeline run twice with ``loopml pipeline run`` (its middle step cached the second
time). The profile, the diff's drift scores, the DAG with every step's status and the step
logs show; the console stays free of errors and nothing but 127.0.0.1 is requested."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from loopml.core.config import init_project
from tests.browser.conftest import WatchedPage
from tests.browser.data_and_pipelines_data import (
    DATASET,
    PIPELINE_SOURCE,
    STEPS,
    write_versions,
)
from tests.e2e.runner import cli_each
from tests.fixtures.server import PlatformServer, start_platform_server, wait_until_ready


@dataclass(frozen=True)
class Served:
    server: PlatformServer
    first_run: str
    second_run: str
    measure_run: str  # the second run's (cached) measure step


def _loopml(project: Path, *commands: list[str]) -> list[str]:
    """Run the ``loopml`` commands one after the other in one process (the CLI's own
    ``main``), asserting each succeeded; what each printed."""
    done = cli_each(list(commands), cwd=project, timeout=300)
    for each in done:
        assert each.returncode == 0, f"{each.args}: exit {each.returncode}\n{each.stderr}"
    return [each.stdout for each in done]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    project = tmp_path_factory.mktemp("data-pipelines-project")
    config = init_project(project)
    early, everything = write_versions(project / "raw")
    (project / "penguin_flows.py").write_text(PIPELINE_SOURCE, encoding="utf-8")
    target = "penguin_flows:penguin_summary"
    *_, first_out, second_out = _loopml(
        project,
        ["data", "add", DATASET, str(early), "-m", "2007-2008", "--quiet"],
        ["data", "add", DATASET, str(everything), "-m", "2009 added", "--quiet"],
        ["pipeline", "run", target, "--json"],
        ["pipeline", "run", target, "-p", "digits=2", "--json"],
    )
    first, second = json.loads(first_out), json.loads(second_out)
    assert [s["cached"] for s in second["steps"] if s["call"] == "measure"] == [True]
    assert config.store_uri is not None and config.artifact_uri is not None
    started = start_platform_server(
        project / "server", store_uri=config.store_uri, artifact_uri=config.artifact_uri
    )
    try:
        assert wait_until_ready(started), started.log()
        (measure,) = [s["run_id"] for s in second["steps"] if s["call"] == "measure"]
        yield Served(started, first["run_id"], second["run_id"], measure)
    finally:
        started.stop()


def test_the_data_pages_show_the_profile_and_the_diff_with_drift_scores(
    served: Served, watched_page: WatchedPage, tmp_path: Path
) -> None:
    page = watched_page.page
    watched_page.goto(f"{served.server.url}/ui/data")
    page.screenshot(path=tmp_path / "data-list.png", full_page=True)
    page.get_by_role("link", name=DATASET, exact=True).click()
    page.wait_for_load_state("load")
    assert page.locator("h1").inner_text() == DATASET
    assert page.locator("table.data tbody tr").count() == 2
    page.screenshot(path=tmp_path / "data-versions.png", full_page=True)

    # the newest version's profile: types, missing values, histograms, top categories
    page.get_by_role("link", name=f"{DATASET}@2").click()
    page.wait_for_load_state("load")
    island = page.locator("table.profile tr[data-column=island]")
    assert "categorical" in island.inner_text() and "Biscoe" in island.inner_text()
    sex = page.locator("table.profile tr[data-column=sex]")
    assert "11" in sex.locator("td").nth(1).inner_text()  # sex is missing for 11 penguins
    mass = page.locator("table.profile tr[data-column=body_mass_g] svg.histogram")
    assert mass.is_visible() and mass.locator("rect.bar").count() > 3
    assert (
        page.locator("table.schema tbody tr").count()
        == page.locator("table.profile tbody tr").count()
    )
    page.screenshot(path=tmp_path / "data-version.png", full_page=True)

    # the check against version 1's schema
    page.get_by_role("link", name=f"validate against {DATASET}@1").click()
    page.wait_for_load_state("load")
    assert "344 rows" in page.locator("main").inner_text()
    page.screenshot(path=tmp_path / "data-validation.png", full_page=True)

    # the diff, chosen with the form on the dataset's page
    watched_page.goto(f"{served.server.url}/ui/data/{DATASET}")
    page.get_by_label("Reference (A)").select_option(label=f"{DATASET}@1")
    page.get_by_label("Compared (B)").select_option(label=f"{DATASET}@2")
    page.get_by_role("button", name="Show the diff").click()
    page.wait_for_load_state("load")
    assert page.locator("h1").inner_text() == f"{DATASET}@1 → {DATASET}@2"
    year = page.locator("table.diff tr[data-column=year]")
    assert float(year.locator("td.score").first.inner_text()) > 0.25  # PSI of a new year
    assert year.locator(".drift-major").is_visible()
    assert page.locator("table.diff td.score").count() >= 2 * len(["island", "sex", "year"])
    page.screenshot(path=tmp_path / "data-diff.png", full_page=True)

    assert watched_page.console_errors == []
    assert watched_page.off_loopback() == []


def test_the_pipeline_pages_draw_the_dag_with_every_step_and_show_the_logs(
    served: Served, watched_page: WatchedPage, tmp_path: Path
) -> None:
    page = watched_page.page
    watched_page.goto(f"{served.server.url}/ui/pipelines")
    rows = page.locator("table.pipelines tbody tr")
    assert rows.count() == 2
    assert rows.first.get_attribute("data-run-id") == served.second_run  # newest first
    page.screenshot(path=tmp_path / "pipelines.png", full_page=True)
    rows.first.get_by_role("link").first.click()
    page.wait_for_load_state("load")

    nodes = page.locator("figure.dag svg a.node")
    assert sorted(nodes.evaluate_all("ns => ns.map(n => n.dataset.step)")) == sorted(STEPS)
    for step in STEPS:
        node = page.locator(f"figure.dag a.node[data-step={step}]")
        assert "finished" in node.locator("text").nth(1).text_content()
    assert "cached" in page.locator("a.node[data-step=measure] title").text_content()
    assert "cached" not in page.locator("a.node[data-step=report] title").text_content()
    assert page.locator("figure.dag path.edge").count() == 2
    measure = page.locator("table.steps tr[data-step=measure]")
    assert "hit" in measure.inner_text()
    step_run = measure.get_by_role("link", name=served.measure_run[:8])
    assert step_run.get_attribute("href") == f"/ui/runs/{served.measure_run}"
    page.screenshot(path=tmp_path / "pipeline-run.png", full_page=True)

    # a box is a link to its step's log, which it opens (with the keyboard too)
    report = page.locator("a.node[data-step=report]")
    report.focus()
    page.keyboard.press("Enter")
    log = page.locator("details.step-log", has_text="report").first
    page.wait_for_url(f"**#{log.get_attribute('id')}")  # the address follows the box's link
    assert log.evaluate("element => element.open") is True
    assert "mean body mass" in log.locator("pre.log").inner_text()
    assert any(url.endswith("/ui/static/pipelines.js") for url in watched_page.requests)

    # the first run's measure step ran: its log shows, its markup as text
    watched_page.goto(f"{served.server.url}/ui/pipelines/{served.first_run}")
    first_measure = page.locator("details.step-log", has_text="measure").first
    first_measure.locator("summary").click()
    assert "penguins <b>not bold</b>" in first_measure.locator("pre.log").inner_text()
    page.screenshot(path=tmp_path / "pipeline-first-run.png", full_page=True)

    assert watched_page.console_errors == []
    assert watched_page.off_loopback() == []
