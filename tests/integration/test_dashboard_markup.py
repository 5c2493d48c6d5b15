"""Every dashboard page with real data behind it (the platform server's app in process, over
real SQLite stores): a run, a dataset's versions and diff, a pipeline run, models with gated
versions, a deployment with its prediction log and the loop's decision. Each page is checked for
what a screen reader and the Content-Security-Policy need: one ``<h1>``, a label for every
control, an ``alt`` on every image, ``scope`` on every table header, no inline handler or
style, and the policy header; and the pages link to each other where they name one another."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser

import httpx
import pytest
from fastapi import FastAPI

import loopml
from loopml.pipelines import run
from loopml.server import create_app
from loopml.stores.artifacts.local import LocalArtifactStore
from loopml.stores.registry import open_loop_store, open_metadata_store
from loopml.tracking import Client
from tests.browser.data_and_pipelines_data import DATASET, pipeline_module, write_versions
from tests.browser.deployments_data import build_deployment_project
from tests.browser.models_data import MODEL, build_registry

CONTROLS = ("input", "select", "textarea")
UNLABELLED_TYPES = ("hidden", "submit", "button", "reset", "image")


@dataclass(frozen=True)
class Project:
    app: FastAPI
    pages: dict[str, str]  # what the page shows -> its path
    ids: dict[str, str]  # the trained run, the pipeline run, one of its steps, the retraining


class Markup(HTMLParser):
    """What the checks need of a page: its controls and the labels that name them, images,
    table headers, headings, inline handlers and styles."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self.h1 = 0
        self.label_for: set[str] = set()
        self.controls: list[tuple[str, dict[str, str | None], bool]] = []
        self.links: list[str] = []
        self._open_labels = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        for attr in named:
            if attr.startswith("on"):
                self.problems.append(f"<{tag} {attr}=…>: an inline handler")
            if attr == "style":
                self.problems.append(f"<{tag} style=…>: an inline style")
        if tag == "h1":
            self.h1 += 1
        elif tag == "label":
            self._open_labels += 1
            if named.get("for"):
                self.label_for.add(str(named["for"]))
        elif tag in CONTROLS:
            self.controls.append((tag, named, self._open_labels > 0))
        elif tag == "img" and named.get("alt") is None:
            self.problems.append(f"<img src={named.get('src')!r}> without alt")
        elif tag == "th" and not named.get("scope"):
            self.problems.append("<th> without scope")
        elif tag == "a" and named.get("href"):
            self.links.append(str(named["href"]))
        elif tag == "script" and not named.get("src") and named.get("type") != "application/json":
            self.problems.append("an inline <script>")

    def handle_endtag(self, tag: str) -> None:
        if tag == "label":
            self._open_labels -= 1

    def check(self) -> list[str]:
        problems = list(self.problems)
        if self.h1 != 1:
            problems.append(f"{self.h1} <h1> (one expected)")
        for tag, attrs, in_label in self.controls:
            if tag == "input" and attrs.get("type") in UNLABELLED_TYPES:
                continue
            named = (
                in_label
                or attrs.get("aria-label")
                or attrs.get("aria-labelledby")
                or attrs.get("id") in self.label_for
            )
            if not named:
                problems.append(f"<{tag} name={attrs.get('name')!r}> without a label")
        return problems


def inspect(text: str) -> Markup:
    parser = Markup()
    parser.feed(text)
    parser.close()
    return parser


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    folder = tmp_path_factory.mktemp("dashboard-markup")
    uri, artifacts = f"sqlite:///{folder / 'loopml.db'}", str(folder / "artifacts")
    early, everything = write_versions(folder)
    flows = pipeline_module(folder, "markup_flows")
    with Client(uri, artifacts) as client:
        loopml.data.add(DATASET, early, client=client)
        loopml.data.add(DATASET, everything, client=client)
        pipeline = run(flows.penguin_summary, client=client)
        build_registry(client, folder / "registry")
        deployment = build_deployment_project(folder, client)
        (step,) = client.search_runs(
            filter=f"parent_run_id = '{pipeline.run_id}' and name = 'measure'"
        )
        (trained,) = client.search_runs(filter="name = 'train cancer'")
    metadata, loop = open_metadata_store(uri), open_loop_store(uri)
    pages = {
        "runs": "/ui/",
        "run": f"/ui/runs/{trained.id}",
        "step run": f"/ui/runs/{step.id}",
        "compare": f"/ui/compare?run={trained.id}&run={step.id}",
        "data": "/ui/data",
        "dataset": f"/ui/data/{DATASET}",
        "data version": f"/ui/data/{DATASET}/2",
        "training data": "/ui/data/cancer-train/1",
        "data diff": f"/ui/data/{DATASET}/diff?a=1&b=2",
        "validation": f"/ui/data/{DATASET}/2/validation?against=1",
        "pipelines": "/ui/pipelines",
        "pipeline run": f"/ui/pipelines/{pipeline.run_id}",
        "models": "/ui/models",
        "model": f"/ui/models/{MODEL}",
        "deployed model": "/ui/models/cancer",
        "deployments": "/ui/deployments",
        "deployment": f"/ui/deployments/{deployment.deployment_id}",
        "audit": "/ui/audit",
    }
    try:
        ids = {
            "trained": trained.id,
            "pipeline": pipeline.run_id,
            "step": step.id,
            "retrained": deployment.pipeline_run_id,
        }
        app = create_app(metadata, LocalArtifactStore(artifacts), loop_store=loop)
        yield Project(app, pages, ids)
    finally:
        loop.close()
        metadata.close()


def _get(app: FastAPI, *paths: str) -> list[httpx.Response]:
    async def fetch() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return [await client.get(path, timeout=300) for path in paths]

    return asyncio.run(fetch())


def test_every_page_with_data_has_labels_alts_scoped_headers_one_h1_and_the_policy(
    project: Project,
) -> None:
    names = list(project.pages)
    answers = _get(project.app, *project.pages.values())
    found: dict[str, list[str]] = {}
    for name, answer in zip(names, answers, strict=True):
        assert answer.status_code == 200, (name, answer.text[:2000])
        policy = answer.headers["content-security-policy"]
        assert "script-src 'self';" in policy and "unsafe-inline" not in policy, name
        problems = inspect(answer.text).check()
        if problems:
            found[name] = sorted(set(problems))
    assert found == {}


def test_pages_link_the_runs_versions_and_data_they_name(project: Project) -> None:
    ids = project.ids
    expected = {
        # a run: the data it read, the pipeline it is a step of
        "run": ["/ui/data/cancer-train/1"],
        "step run": [f"/ui/pipelines/{ids['pipeline']}", f"/ui/runs/{ids['pipeline']}"],
        "pipeline run": [f"/ui/runs/{ids['step']}"],
        # a model: each version's run and training data, the gate's evaluation data
        "deployed model": [
            f"/ui/runs/{ids['trained']}",
            "/ui/data/cancer-train/1",
            "/ui/data/cancer-holdout/1",
        ],
        # a deployment: the version served, the decision's run, versions and gate result
        "deployment": [
            "/ui/models/cancer?version=1#card",
            f"/ui/runs/{ids['retrained']}",
            "/ui/models/cancer?version=2#card",
            "/ui/models/cancer?version=2#gates",
        ],
        # a dataset version: the runs that read it
        "training data": [f"/ui/runs/{ids['trained']}", f"/ui/runs/{ids['retrained']}"],
    }
    answers = _get(project.app, *(project.pages[name] for name in expected))
    for (name, links), answer in zip(expected.items(), answers, strict=True):
        found = set(inspect(answer.text).links)
        assert set(links) <= found, (name, sorted(set(links) - found))
