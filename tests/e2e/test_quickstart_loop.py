"""``loopml quickstart --loop`` as a user runs it, on a copy of the e2e quickstart project: a
real model server answers the replayed traffic, labels go back through ``/feedback``, the
prediction log is read by ``monitor_windows``, and ``loopml agent --once`` acts as its own
process. Minutes long: the loop's windows are one minute and the agent acts on complete ones.

Then the dashboard tells the same story, as a new user following the README sees it: ``loopml
ui`` in that project, walked page by page in a real Chromium (one test per page, so a failure
names the part that broke): the runs and a trial's curve, two tuning trials compared, the
data versions and their diff, the ``training`` pipeline's DAG, the model's gates, alias history
and card, the loop's deployment with its drifted windows and decisions, and the audit log
verified intact. Nothing leaves 127.0.0.1 and the console stays free of errors."""

from __future__ import annotations

import contextlib
import json
import shutil
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlencode

import pytest
from playwright.sync_api import expect

from loopml.cli.quickstart_loop_config import DRIFT_SHARE, MIN_ACCURACY
from loopml.core.config import load_config
from loopml.tracking import Client
from tests.browser import conftest as browser_fixtures
from tests.browser.conftest import WAIT_MS, WatchedPage
from tests.e2e.conftest import QUICKSTART_TIMEOUT, QuickstartProject
from tests.e2e.runner import LOOPML, _environment, cli

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

LOOP_TIMEOUT = 1200  # two window waits, a server, a training and a rollback on a busy machine


# the first test to ask for the project makes it: the quickstart, then the loop
pytestmark = pytest.mark.timeout(QUICKSTART_TIMEOUT + LOOP_TIMEOUT)
FIRST_LOOK_MS = 300_000  # a deployment's first view summarises its whole prediction log
# the browser tests' fixtures (tests/browser/conftest.py), for the walk of the dashboard
browser = browser_fixtures.browser
watched_page = browser_fixtures.watched_page


@dataclass(frozen=True)
class LoopProject:
    """A copy of the quickstart project after ``loopml quickstart DIR --loop``."""

    demo: Path
    done: subprocess.CompletedProcess[str]


@pytest.fixture(scope="module")
def loop_project(
    quickstart_project: QuickstartProject, tmp_path_factory: pytest.TempPathFactory
) -> LoopProject:
    assert quickstart_project.done.returncode == 0, quickstart_project.done.stderr
    demo = tmp_path_factory.mktemp("loop") / "demo"
    shutil.copytree(quickstart_project.demo, demo, symlinks=True)
    done = cli(
        "quickstart", str(demo), "--loop", "--json", "--quiet",
        cwd=demo.parent, timeout=LOOP_TIMEOUT, columns=120,
    )  # fmt: skip
    return LoopProject(demo, done)


def test_the_loop_sees_drift_and_decay_then_retrains_promotes_and_rolls_back(
    loop_project: LoopProject,
) -> None:
    done = loop_project.done
    assert done.returncode == 0, done.stderr
    story = json.loads(done.stdout)
    # the quickstart's champion (2) takes an array: the loop's first model takes named columns
    assert story["first_model"] == "breast-cancer@3"
    assert "schema compatible" in story["first_model_forced"]  # an array before, columns now
    phases = {p["phase"]: p for p in story["phases"]}
    assert phases["normal"]["served_by"] == phases["drift"]["served_by"] == "breast-cancer@3"
    normal, drift = phases["normal"]["monitoring"], phases["drift"]["monitoring"]
    assert normal["drift_share"] < DRIFT_SHARE and normal["accuracy"] > 0.9
    assert normal["labelled"] == phases["normal"]["rows"] == 200
    # the new scanner moves 9 of the 30 features; the new protocol costs the champion accuracy
    assert drift["drift_share"] >= DRIFT_SHARE
    assert drift["accuracy"] < MIN_ACCURACY
    assert drift["labelled"] == phases["drift"]["rows"] == 455
    assert story["data_versions"] == {
        "training": "breast_cancer@2",
        "holdout": "breast_cancer_holdout@2",
    }
    decided = story["policy_decides"]
    assert decided["trigger"] == "decay"
    assert decided["evidence"]["metric"] == "accuracy"
    assert decided["evidence"]["samples"] == 455
    assert decided["evidence"]["data_version"] == 2  # retrained on the labelled traffic
    assert decided["drift_alone"]["value"] >= DRIFT_SHARE

    assert story["notes"] == []
    retraining = story["retraining"]
    assert retraining["trigger"] == "decay" and retraining["state"] == "promoted"
    assert retraining["champion_version"] == 3 and retraining["candidate_version"] == 4
    assert phases["recovered"]["served_by"] == "breast-cancer@4"
    assert phases["worse"]["served_by"] == "breast-cancer@5"
    assert phases["recovered"]["monitoring"]["accuracy"] > 0.9
    assert phases["worse"]["monitoring"]["accuracy"] < 0.8
    rollback = story["rollback"]
    assert rollback["trigger"] == "rollback_guard" and rollback["state"] == "rolled_back"
    timings = story["timings_s"]
    assert timings["training"] > 0
    assert timings["first_drifted_request_to_promotion"] > timings["training"]
    states = {(d["trigger"], d["state"]) for d in story["loop_log"]}
    assert states == {("decay", "promoted"), ("rollback_guard", "rolled_back")}


# ---- the dashboard over the same project: what a new user sees with `loopml ui` ----


@contextlib.contextmanager
def _loopml_ui(project: Path, logs: Path) -> Iterator[str]:
    """``loopml ui`` in ``project`` (its own cache for monitoring summaries): yields the
    dashboard's URL (``http://127.0.0.1:PORT/ui``), stops it with Ctrl-C (SIGINT)."""
    environment = _environment({"XDG_CACHE_HOME": str(logs / "cache")}, 200)
    with (logs / "ui.stderr").open("w+", encoding="utf-8") as stderr:
        process = subprocess.Popen(
            [str(LOOPML), "ui"], cwd=project, env=environment, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=stderr, text=True,
        )  # fmt: skip
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            assert line.startswith("loopml dashboard: http://127.0.0.1:"), line
            yield line.split()[2].removesuffix("/")
            process.send_signal(signal.SIGINT)
            assert process.wait(timeout=60) == 130  # stopped by SIGINT, as shells report it
            stderr.seek(0)
            assert "Traceback" not in stderr.read()
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()


@pytest.fixture(scope="module")
def dashboard(loop_project: LoopProject, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    assert loop_project.done.returncode == 0, f"the loop failed:\n{loop_project.done.stderr}"
    with _loopml_ui(loop_project.demo, tmp_path_factory.mktemp("loopml-ui")) as url:
        yield url


def _follow(page: Page, name: str, *, within: str = "main") -> None:
    """Click the link named exactly ``name`` (the first, inside ``within``) and wait for the
    page it leads to."""
    with page.expect_navigation(wait_until="load"):
        page.locator(within).get_by_role("link", name=name, exact=True).first.click()


def _out_of_sight(page: Page, figure: str, boxes: Locator) -> list[str]:
    """The texts of ``boxes`` that lie beyond the right edge of ``figure`` (hidden behind
    its scroll bar)."""
    edge = page.locator(figure).bounding_box()
    assert edge is not None
    hidden = []
    for box in boxes.all():
        where = box.bounding_box()
        if where is None or where["x"] + where["width"] > edge["x"] + edge["width"] + 1:
            hidden.append(" ".join((box.text_content() or "").split()))
    return hidden


def _clean(watched: WatchedPage) -> None:
    assert watched.console_errors == []
    assert watched.off_loopback() == []


def test_the_dashboard_lists_the_quickstart_runs_and_a_trial_draws_its_curve(
    dashboard: str, watched_page: WatchedPage, tmp_path: Path
) -> None:
    watched_page.goto(f"{dashboard}/")
    page = watched_page.page
    _follow(page, "quickstart", within="nav.side")
    assert page.locator("h1").inner_text() == "Runs of quickstart"
    names = page.locator("table.runs tbody tr th").all_inner_texts()
    assert "worse-on-purpose" in names  # the loop's model promoted by hand, newest runs first
    page.screenshot(path=tmp_path / "1-runs.png", full_page=True)

    page.get_by_label("Name contains").fill("tune-logistic_regression")
    with page.expect_navigation(wait_until="load"):
        page.get_by_role("button", name="Apply").click()
    studies = page.locator("table.runs tbody tr")
    assert studies.count() >= 1  # newest first: the quickstart's own study is the last
    _follow(page, "tune-logistic_regression", within="table.runs tbody tr >> nth=-1")
    assert page.locator("h1").inner_text().startswith("tune-logistic_regression")
    trials = page.locator("table.nested tbody tr")
    assert trials.count() == 10  # the quickstart's 10 trials, nested under the study
    _follow(page, "trial-0", within="table.nested")
    assert page.locator("h1").inner_text().startswith("trial-0")
    page.locator("#metric-chart canvas").wait_for()
    page.get_by_label("Metric", exact=True).select_option("roc_auc_fold")  # one per fold
    expect(page.locator(".u-legend").first).to_contain_text("fold", timeout=WAIT_MS)
    assert page.locator("#metric-status").inner_text() == "3 points."
    page.screenshot(path=tmp_path / "2-run.png", full_page=True)
    _clean(watched_page)


def test_two_tuning_trials_compare_with_the_study_drawn_as_parallel_coordinates(
    dashboard: str, watched_page: WatchedPage, tmp_path: Path
) -> None:
    page = watched_page.page
    watched_page.goto(f"{dashboard}/?experiment=quickstart&q=tune-logistic_regression")
    _follow(page, "tune-logistic_regression", within="table.runs tbody tr >> nth=-1")
    links = page.locator("table.nested tbody tr a[href*='/ui/runs/']")
    picked = [href.rsplit("/", 1)[-1] for href in links.evaluate_all("a => a.map(x => x.href)")]
    watched_page.goto(f"{dashboard}/compare?" + urlencode({"run": picked[:2]}, doseq=True))
    assert page.locator("h1").inner_text() == "Compare 2 runs"
    plot = page.locator("svg#parallel-coordinates")
    assert plot.is_visible()
    assert plot.locator("polyline").count() == 10  # every trial of the study
    assert plot.locator("polyline.picked").count() == 2
    assert page.locator("text.pc-label").all_text_contents() == ["C (log)", "objective"]
    page.locator("#compare-curves canvas").first.wait_for()
    page.screenshot(path=tmp_path / "3-compare.png", full_page=True)
    _clean(watched_page)


def test_the_data_pages_show_both_datasets_their_versions_and_a_diff(
    dashboard: str, watched_page: WatchedPage, tmp_path: Path
) -> None:
    page = watched_page.page
    watched_page.goto(f"{dashboard}/data")
    for name in ("breast_cancer", "breast_cancer_holdout"):
        assert page.locator("main").get_by_role("link", name=name, exact=True).is_visible()
    page.screenshot(path=tmp_path / "4-datasets.png", full_page=True)
    _follow(page, "breast_cancer")
    # the bundled data (1), then the loop's labelled traffic (2) that it retrained on
    assert page.locator("table.data tbody tr").count() == 2
    page.screenshot(path=tmp_path / "4-dataset.png", full_page=True)
    page.get_by_label("Reference (A)").select_option(label="breast_cancer@1")
    page.get_by_label("Compared (B)").select_option(label="breast_cancer@2")
    with page.expect_navigation(wait_until="load"):
        page.get_by_role("button", name="Show the diff").click()
    assert page.locator("h1").inner_text() == "breast_cancer@1 → breast_cancer@2"
    assert page.locator("table.diff tr[data-column=mean_radius] td.score").count() >= 1
    page.screenshot(path=tmp_path / "5-data-diff.png", full_page=True)
    watched_page.goto(f"{dashboard}/data/breast_cancer/1")
    radius = page.locator("table.profile tr[data-column=mean_radius] svg.histogram")
    assert radius.is_visible() and radius.locator("rect.bar").count() > 3
    page.screenshot(path=tmp_path / "5-data-version.png", full_page=True)
    _clean(watched_page)


def test_the_training_pipeline_run_draws_every_step_in_its_dag(
    dashboard: str, loop_project: LoopProject, watched_page: WatchedPage, tmp_path: Path
) -> None:
    page = watched_page.page
    watched_page.goto(f"{dashboard}/pipelines?pipeline=training")
    rows = page.locator("table.pipelines tbody tr")
    assert rows.count() == 1  # the quickstart's training; the loop ran `retraining`
    page.screenshot(path=tmp_path / "6-pipelines.png", full_page=True)
    run_id = rows.first.get_attribute("data-run-id")
    with page.expect_navigation(wait_until="load"):
        rows.first.get_by_role("link").first.click()
    with Client(config=load_config(loop_project.demo)) as client:
        steps = client.search_runs(filter=f"parent_run_id = '{run_id}'", max_results=100)
    nodes = page.locator("figure.dag svg a.node")
    drawn = nodes.evaluate_all("ns => ns.map(n => n.dataset.step)")
    assert sorted(drawn) == sorted(step.name for step in steps)
    assert {"dataset_version", "features", "search", "train", "evaluate", "choose"} <= set(drawn)
    for step in drawn:
        title = page.locator(f"figure.dag a.node[data-step='{step}'] title").text_content()
        assert title is not None and "finished" in title
    assert _out_of_sight(page, "figure.dag", nodes) == []
    assert page.locator("figure.dag path.edge").count() >= len(drawn) - 1
    page.screenshot(path=tmp_path / "6-pipeline-run.png", full_page=True)
    _clean(watched_page)


def test_the_model_page_shows_versions_gates_alias_history_and_the_card(
    dashboard: str, watched_page: WatchedPage, tmp_path: Path
) -> None:
    page = watched_page.page
    watched_page.goto(f"{dashboard}/models")
    # the rollback guard moved the champion back to the retrained model
    assert page.locator("table.models").get_by_text("@champion → 4").is_visible()
    page.screenshot(path=tmp_path / "7-models.png", full_page=True)
    _follow(page, "breast-cancer")
    assert page.locator("h1").inner_text() == "breast-cancer"
    versions = page.locator("table.versions tbody tr")
    assert versions.evaluate_all("rs => rs.map(r => r.dataset.version)") == list("54321")
    gates = page.locator("table.gates").inner_text()
    assert "pass" in gates.lower()
    # newest first: the agent's rollback guard moved @champion from the worse model back
    newest = page.locator("table.history tbody tr").first.locator("td, th").all_inner_texts()
    assert newest[1:4] == ["@champion", "5", "4"] and "rollback guard" in newest[5]
    first = page.locator("table.history tbody tr").last.inner_text()
    assert "the quickstart's first champion" in first
    card = page.locator("#card")
    assert "Model card of breast-cancer@4" in card.locator("h2").inner_text()
    assert "breast_cancer@2" in card.inner_text()  # trained on the labelled traffic
    # data, the retraining pipeline and its steps, the version, @champion, its deployment
    nodes = page.locator("figure.lineage svg g.node")
    assert nodes.count() >= 5
    assert _out_of_sight(page, "figure.lineage", nodes) == []
    page.screenshot(path=tmp_path / "7-model.png", full_page=True)
    _clean(watched_page)


def test_the_loops_deployment_shows_drifted_windows_and_its_decisions(
    dashboard: str, watched_page: WatchedPage, tmp_path: Path
) -> None:
    page = watched_page.page
    watched_page.goto(f"{dashboard}/deployments?all=true")
    rows = page.locator("table.deployments tbody tr")
    assert rows.count() >= 2  # the quickstart's servers, then the loop's
    newest = rows.first
    assert newest.locator("td").nth(0).inner_text() == "breast-cancer@champion"
    page.screenshot(path=tmp_path / "8-deployments.png", full_page=True)
    href = newest.get_by_role("link").first.get_attribute("href")
    # the first view of a deployment summarises its prediction log: the one slow page
    answer = page.goto(f"{dashboard.removesuffix('/ui')}{href}?window=5m", timeout=FIRST_LOOK_MS)
    assert answer is not None and answer.ok
    assert page.locator("table.drift td.drift-yes").count() >= 1  # the new scanner's features
    assert page.locator("#chart-performance circle").count() >= 1
    decisions = page.locator("table.decisions .decision-state").all_inner_texts()
    assert "promoted" in decisions and "rolled_back" in decisions
    page.screenshot(path=tmp_path / "9-deployment.png", full_page=True)
    _clean(watched_page)


def test_the_audit_log_verifies_intact(
    dashboard: str, watched_page: WatchedPage, tmp_path: Path
) -> None:
    page = watched_page.page
    watched_page.goto(f"{dashboard}/audit")
    events = page.locator("table.events")
    assert events.locator("tbody tr").count() == 50  # a full first page, newest first
    assert "model:breast-cancer" in events.inner_text()  # the rollback guard's alias move
    page.get_by_role("button", name="Verify").click()
    verdict = page.locator("#verify-result .verdict")
    verdict.wait_for()
    assert verdict.inner_text().startswith("Intact")
    page.screenshot(path=tmp_path / "10-audit.png", full_page=True)
    _clean(watched_page)
