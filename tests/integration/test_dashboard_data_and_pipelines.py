"""The datasets and pipelines pages in process (the platform app over a real SQLite store and
artifact folder): what they show of two versions of a real table and of a pipeline run twice,
and how they refuse what they cannot show (an unknown dataset, bad diff arguments, a run that
is not a pipeline's)."""

from __future__ import annotations

import asyncio
import io
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

import loopml
from loopml.core.entities import ArtifactEntry
from loopml.core.errors import StepFailedError
from loopml.dashboard.pages.datasets import COLUMNS_PER_PAGE, MAX_PER_PAGE
from loopml.dashboard.pages.pipelines import _log_tail
from loopml.pipelines import run
from loopml.server import create_app
from loopml.stores.artifacts.local import LocalArtifactStore
from loopml.stores.registry import open_metadata_store
from loopml.tracking import Client
from tests.browser.data_and_pipelines_data import DATASET, STEPS, pipeline_module, write_versions

SVG = "{http://www.w3.org/2000/svg}"
WIDE_COLUMNS = COLUMNS_PER_PAGE * 2 + 5


def _wide_csv(columns: int, rows: int, shift: int = 0) -> str:
    header = ",".join(f"c{index:03d}" for index in range(columns))
    lines = [",".join(str(row * index + shift) for index in range(columns)) for row in range(rows)]
    return "\n".join([header, *lines]) + "\n"


def _shifted(first: Path, folder: Path) -> Path:
    """The same file name with every value moved (a diff of the same table)."""
    folder.mkdir()
    second = folder / first.name
    second.write_text(_wide_csv(WIDE_COLUMNS, rows=30, shift=1000), encoding="utf-8")
    return second


@dataclass(frozen=True)
class Story:
    app: FastAPI
    first_run: str
    second_run: str
    failed_run: str
    plain_run: str


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Story]:
    folder = tmp_path_factory.mktemp("dashboard-data")
    uri, artifacts = f"sqlite:///{folder / 'loopml.db'}", str(folder / "artifacts")
    early, everything = write_versions(folder)
    flows = pipeline_module(folder)
    with Client(uri, artifacts) as client:
        loopml.data.add(DATASET, early, message="2007-2008", client=client)
        loopml.data.add(DATASET, everything, message="2009 added", client=client)
        first = run(flows.penguin_summary, client=client)
        second = run(flows.penguin_summary, params={"digits": 2}, client=client)
        with pytest.raises(StepFailedError):
            run(flows.penguin_summary, params={"digits": -1}, client=client)
        (failed,) = client.search_runs(filter="tags.`loopml.pipeline_params` like '%-1%'")
        wide = folder / "wide.csv"
        wide.write_text(_wide_csv(WIDE_COLUMNS, rows=30), encoding="utf-8")
        loopml.data.add("wide", wide, client=client)
        loopml.data.add("wide", _shifted(wide, folder / "wide2"), client=client)
        plain = client.create_run("churn", name="not-a-pipeline")
    metadata = open_metadata_store(uri)
    try:
        yield Story(
            create_app(metadata, LocalArtifactStore(artifacts)),
            first.run_id,
            second.run_id,
            failed.id,
            plain.id,
        )
    finally:
        metadata.close()


def _get(app: FastAPI, *paths: str) -> list[httpx.Response]:
    async def fetch() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return [await client.get(path) for path in paths]

    return asyncio.run(fetch())


def test_the_datasets_pages_list_versions_and_profile_a_version(story: Story) -> None:
    listing, dataset, version = _get(
        story.app, "/ui/data", f"/ui/data/{DATASET}", f"/ui/data/{DATASET}/2"
    )
    assert listing.status_code == dataset.status_code == version.status_code == 200
    assert f"{DATASET}@2" in listing.text and f"{DATASET}@1" not in listing.text
    assert "2007-2008" in dataset.text and "2009 added" in dataset.text
    text = version.text
    assert 'data-column="island"' in text and 'data-column="sex"' in text
    assert "Biscoe" in text  # a top value of a string categorical
    assert 'class="histogram"' in text  # the numbers' histograms, as SVG bars
    assert "schema-heading" in text and "validation?against=1" in text


def test_the_diff_shows_drift_scores_per_column(story: Story) -> None:
    (answer,) = _get(story.app, f"/ui/data/{DATASET}/diff?a=1&b=2")
    assert answer.status_code == 200
    assert "PSI" in answer.text and 'data-column="year"' in answer.text
    assert 'class="drift drift-major"' in answer.text  # a new year is a major shift


def test_a_version_validates_against_the_schema_of_the_one_before(story: Story) -> None:
    (answer,) = _get(story.app, f"/ui/data/{DATASET}/2/validation?against=1")
    assert answer.status_code == 200
    assert "penguins.csv" in answer.text and "344 rows" in answer.text


def test_an_unknown_dataset_or_version_is_not_found(story: Story) -> None:
    unknown, version, table = _get(
        story.app,
        "/ui/data/no-such-data",
        f"/ui/data/{DATASET}/9",
        f"/ui/data/{DATASET}/1?table=other.csv",
    )
    assert unknown.status_code == 404 and "no-such-data" in unknown.text
    assert version.status_code == 404
    assert table.status_code == 404 and "other.csv" in table.text


def test_bad_diff_arguments_are_refused(story: Story) -> None:
    missing, word, zero, column_page = _get(
        story.app,
        f"/ui/data/{DATASET}/diff?a=1",
        f"/ui/data/{DATASET}/diff?a=one&b=2",
        f"/ui/data/{DATASET}/diff?a=0&b=2",
        f"/ui/data/{DATASET}/diff?a=1&b=2&start=-1",
    )
    for answer in (missing, word, zero, column_page):
        assert answer.status_code == 400, answer.text
    (absent,) = _get(story.app, f"/ui/data/{DATASET}/diff?a=1&b=7")
    assert absent.status_code == 404


def test_the_pipeline_runs_are_listed_newest_first(story: Story) -> None:
    listing, only, quoted = _get(
        story.app,
        "/ui/pipelines",
        "/ui/pipelines?pipeline=penguin_summary",
        "/ui/pipelines?pipeline=it's",
    )
    assert listing.status_code == only.status_code == 200
    first, second = listing.text.index(story.first_run), listing.text.index(story.second_run)
    assert second < first  # newest first
    assert "not-a-pipeline" not in listing.text
    assert quoted.status_code == 400


def test_the_dag_is_well_formed_svg_with_one_node_per_step(story: Story) -> None:
    (answer,) = _get(story.app, f"/ui/pipelines/{story.second_run}")
    assert answer.status_code == 200
    start, end = answer.text.index("<svg"), answer.text.index("</svg>") + len("</svg>")
    picture = ET.fromstring(answer.text[start:end].replace("<svg", f'<svg xmlns="{SVG[1:-1]}"', 1))
    nodes = picture.findall(f".//{SVG}a")
    assert sorted(node.get("data-step") for node in nodes) == sorted(STEPS)
    titles = {node.get("data-step"): node.find(f"{SVG}title").text for node in nodes}
    assert "cached" in titles["measure"] and "cached" not in titles["report"]
    assert len(picture.findall(f".//{SVG}path[@class='edge']")) == 2  # version→measure→report
    # the logs are there and escaped
    assert (
        "measured 344 penguins &lt;b&gt;not bold&lt;/b&gt;"
        in _get(story.app, f"/ui/pipelines/{story.first_run}")[0].text
    )


def test_a_run_that_is_not_a_pipeline_or_unknown_is_not_found(story: Story) -> None:
    plain, unknown = _get(
        story.app, f"/ui/pipelines/{story.plain_run}", "/ui/pipelines/0123456789abcdef"
    )
    assert plain.status_code == 404 and "not a pipeline run" in plain.text
    assert unknown.status_code == 404


def test_a_wide_table_is_profiled_and_compared_a_page_of_columns_at_a_time(story: Story) -> None:
    first, last, diff, too_many = _get(
        story.app,
        "/ui/data/wide/1",
        f"/ui/data/wide/1?table=wide.csv&start={COLUMNS_PER_PAGE * 2}",
        "/ui/data/wide/diff?a=1&b=2",
        f"/ui/data?per_page={MAX_PER_PAGE + 1}",
    )
    assert first.text.count('<tr data-column="') == COLUMNS_PER_PAGE
    assert 'data-column="c000"' in first.text and f"start={COLUMNS_PER_PAGE}" in first.text
    assert last.text.count('<tr data-column="') == WIDE_COLUMNS - 2 * COLUMNS_PER_PAGE
    assert "Next columns" not in last.text and "Previous columns" in last.text
    assert diff.text.count('<tr data-column="') == COLUMNS_PER_PAGE
    assert diff.text.count('class="drift drift-') == COLUMNS_PER_PAGE
    assert too_many.status_code == 400


def test_a_failed_step_is_drawn_failed_with_its_traceback_open(story: Story) -> None:
    (answer,) = _get(story.app, f"/ui/pipelines/{story.failed_run}")
    assert answer.status_code == 200
    assert 'class="node node-failed" data-step="report"' in answer.text
    start = answer.text.index('<details class="step-log"', answer.text.index("Logs"))
    logs = answer.text[start:]
    assert "open>" in logs and "ValueError: digits must be 0 or more, not -1" in logs


def test_a_long_log_is_read_back_as_its_last_lines_only(tmp_path: Path) -> None:
    store = LocalArtifactStore(str(tmp_path / "artifacts"))
    text = "".join(f"line {number}\n" for number in range(200_000))
    digest = store.put(io.BytesIO(text.encode()))
    entry = ArtifactEntry("step.log", str(digest), len(text))
    tail = _log_tail(store, [entry], max_bytes=4096, max_lines=50)
    assert tail is not None and tail.truncated and tail.size == len(text)
    lines = tail.text.splitlines()
    assert lines == [f"line {number}" for number in range(199_950, 200_000)]
    short = _log_tail(store, [entry], max_bytes=40, max_lines=50)
    assert short is not None and short.text.splitlines()[-1] == "line 199999"
    assert all(line.startswith("line ") for line in short.text.splitlines())


def test_a_version_outside_the_ranges_of_another_fails_its_validation(story: Story) -> None:
    (answer,) = _get(story.app, "/ui/data/wide/1/validation?against=2")
    assert answer.status_code == 200
    assert 'class="verdict verdict-failed"' in answer.text
    assert "<td>min</td>" in answer.text  # values below the range the shifted version gives
