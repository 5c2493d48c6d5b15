"""The runs page and the compare page in process (the platform app over a real SQLite store
holding runs and a real tuning study): sorting and filtering done by the store, a filter's
syntax error shown with a caret under its position, the columns the address names, and
compare's bounds, params diff, best metrics and a study's parallel coordinates."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from html import unescape
from urllib.parse import urlencode

import httpx
import pytest
from fastapi import FastAPI

from loopml.dashboard.pages.compare import MAX_RUNS
from loopml.server import create_app
from loopml.stores.artifacts.local import LocalArtifactStore
from loopml.stores.registry import open_metadata_store
from loopml.tracking import Client
from tests.browser.runs_data import CHURN_RUNS, EXPERIMENT, RunsData, make_runs

ROW_NAME = re.compile(r'<th scope="row"><a href="[^"]*/ui/runs/[^"]+">([^<]+)</a></th>')


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FastAPI, RunsData]]:
    folder = tmp_path_factory.mktemp("runs-pages")
    uri, artifacts = f"sqlite:///{folder / 'loopml.db'}", str(folder / "artifacts")
    with Client(uri, artifacts) as client:
        data = make_runs(client)
    metadata = open_metadata_store(uri)
    yield create_app(metadata, LocalArtifactStore(artifacts)), data
    metadata.close()


def _get(app: FastAPI, *paths: str) -> list[httpx.Response]:
    async def fetch() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return [await client.get(path) for path in paths]

    return asyncio.run(fetch())


def _runs_page(app: FastAPI, **query: str | list[str]) -> list[str]:
    (answer,) = _get(app, "/ui/?" + urlencode({"experiment": EXPERIMENT, **query}, doseq=True))
    assert answer.status_code == 200, answer.text
    return [unescape(name) for name in ROW_NAME.findall(answer.text)]


def test_the_store_sorts_by_each_column_both_ways(served: tuple[FastAPI, RunsData]) -> None:
    app, _ = served
    by_duration = sorted(CHURN_RUNS, key=lambda name: CHURN_RUNS[name][3])
    assert _runs_page(app, sort="duration", dir="asc") == by_duration
    assert _runs_page(app, sort="duration", dir="desc") == by_duration[::-1]
    by_auc = sorted(CHURN_RUNS, key=lambda name: CHURN_RUNS[name][2], reverse=True)
    assert _runs_page(app, sort="metrics.auc", dir="desc") == by_auc
    assert _runs_page(app, sort="name", dir="asc") == sorted(CHURN_RUNS)
    newest_first = list(CHURN_RUNS)[::-1]
    assert _runs_page(app) == newest_first  # start time, descending
    assert _runs_page(app, sort="start_time", dir="asc") == list(CHURN_RUNS)
    by_rate = _runs_page(app, sort="params.learning_rate", dir="asc")
    assert by_rate[0] == "linear-b" and by_rate[-1] == "boost-a"


def test_a_header_link_sorts_the_other_way_and_keeps_the_view(
    served: tuple[FastAPI, RunsData],
) -> None:
    app, _ = served
    query = urlencode({"experiment": EXPERIMENT, "sort": "duration", "dir": "asc", "q": "a"})
    (answer,) = _get(app, f"/ui/?{query}")
    header = re.search(r'<th scope="col" aria-sort="ascending"><a href="([^"]+)"', answer.text)
    assert header is not None
    link = unescape(header[1])
    assert "sort=duration" in link and "dir=desc" in link and "q=a" in link


def test_the_filter_and_the_name_search_run_in_the_store(
    served: tuple[FastAPI, RunsData],
) -> None:
    app, _ = served
    assert set(_runs_page(app, filter="metrics.auc > 0.85 and params.model = 'rf'")) == {
        "forest-a",
        "forest-b",
    }
    assert set(_runs_page(app, filter="duration >= 75000")) == {"forest-b", "linear-b", "boost-a"}
    assert set(_runs_page(app, q="LINEAR")) == {"linear-a", "linear-b"}
    assert _runs_page(app, q="forest", filter="metrics.auc < 0.9") == ["forest-b"]
    assert _runs_page(app, q="100%_") == []  # wildcards are searched for as text


def test_a_filter_error_is_a_400_with_a_caret_under_its_position(
    served: tuple[FastAPI, RunsData],
) -> None:
    app, _ = served
    text = "metrics.auc > 0.9 or params.model = 'rf'"
    (answer,) = _get(app, "/ui/?" + urlencode({"filter": text}))
    assert answer.status_code == 400
    assert 'aria-invalid="true"' in answer.text and 'role="alert"' in answer.text
    assert "Expected &#39;and&#39;, got &#39;or&#39;" in answer.text
    shown = re.search(r"<pre>(.*?)</pre>", answer.text, re.DOTALL)
    assert shown is not None
    filter_line, caret_line = unescape(shown[1]).split("\n")
    assert filter_line == text
    assert caret_line == " " * text.index("or") + "^"


def test_the_columns_the_address_names_are_shown_and_kept_in_the_links(
    served: tuple[FastAPI, RunsData],
) -> None:
    app, _ = served
    query = {"experiment": EXPERIMENT, "cols": ["params.model", "metrics.val_loss"]}
    (answer,) = _get(app, "/ui/?" + urlencode(query, doseq=True))
    headers = re.findall(
        r'<th scope="col" aria-sort="[a-z]+"><a href="([^"]+)"[^>]*>([^<]+)', answer.text
    )
    labels = [label.strip() for _, label in headers]
    assert labels == ["Name", "Status", "Started", "Duration", "params.model", "metrics.val_loss"]
    assert "metrics.auc" not in labels  # the default columns are replaced by the choice
    for href, _ in headers:
        assert "cols=params.model&amp;cols=metrics.val_loss" in href
    assert '<input type="checkbox" name="cols" value="metrics.auc">' in answer.text  # offered
    (none_chosen,) = _get(app, "/ui/?" + urlencode({"experiment": EXPERIMENT, "cols": ""}))
    assert "metrics.auc</a>" not in none_chosen.text  # an empty choice is a choice
    for bad in _get(app, "/ui/?cols=attributes.secret", "/ui/?sort=password"):
        assert bad.status_code == 400 and "metrics.KEY or params.KEY" in bad.text


def test_compare_takes_two_to_ten_runs_and_says_so(served: tuple[FastAPI, RunsData]) -> None:
    app, data = served
    one = "/ui/compare?run=" + data.ids["forest-a"]
    many = "/ui/compare?" + urlencode(
        {"run": [f"{n:032x}" for n in range(MAX_RUNS + 1)]}, doseq=True
    )
    unknown = "/ui/compare?" + urlencode({"run": [data.ids["forest-a"], "f" * 32]}, doseq=True)
    for answer in _get(app, one, many, "/ui/compare"):
        assert answer.status_code == 400
        assert f"2 to {MAX_RUNS} different runs" in answer.text
    (missing,) = _get(app, unknown)
    assert missing.status_code == 404


def test_compare_marks_differing_params_and_the_best_metrics(
    served: tuple[FastAPI, RunsData],
) -> None:
    app, data = served
    picked = [data.ids[name] for name in ("forest-a", "linear-a", "boost-a")]
    (answer,) = _get(app, "/ui/compare?" + urlencode({"run": picked}, doseq=True))
    assert answer.status_code == 200, answer.text
    text = answer.text
    differing = re.findall(r'<tr class="differs">\s*<th scope="row">.*?</span>([^<]+)</th>', text)
    assert differing == ["learning_rate", "model"]  # folds is the same for all three
    best = re.findall(r'<th scope="row">([a-z_]+)</th>\s*(.*?)</tr>', text, re.DOTALL)
    cells = {key: re.findall(r'<td class="num( best)?">', row) for key, row in best}
    assert cells["auc"] == ["", "", " best"]  # boost-a: the highest auc
    assert cells["val_loss"] == ["", "", " best"]  # and the lowest loss
    assert 'id="compare-data"' in text and "/ui/runs/" in text
    assert 'id="parallel-coordinates"' not in text  # not trials of one study


def test_trials_of_one_study_get_a_parallel_coordinates_plot(
    served: tuple[FastAPI, RunsData],
) -> None:
    app, data = served
    picked = data.trial_ids[:3]
    (answer,) = _get(app, "/ui/compare?" + urlencode({"run": picked}, doseq=True))
    assert answer.status_code == 200, answer.text
    assert 'id="parallel-coordinates"' in answer.text
    assert answer.text.count("<polyline") == len(data.trial_ids)
    assert answer.text.count('class="pc-line picked"') == 3
    labels = re.findall(r'class="pc-label">([^<]+)</text>', answer.text)
    assert labels == ["C", "intercept", "objective"]
