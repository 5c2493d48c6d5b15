"""The deployments page as the platform server answers it (the app in process, over real
SQLite stores): without a loop store it says so; deployments listed a page at a time and
filtered by state; one deployment by its id or a prefix of it, an unknown one a 404 page; the
bounds on every parameter a 400. The page with a real prediction log is
tests/browser/test_deployments_page.py's."""

from __future__ import annotations

import asyncio
import html
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pyarrow as pa
import pytest
from fastapi import FastAPI
from sklearn.dummy import DummyClassifier  # type: ignore[import-untyped]

import loopml
from loopml.core.ids import now_ms
from loopml.core.loop_records import NewDeployment
from loopml.dashboard.pages.deployments import MAX_DECISIONS, MAX_PER_PAGE, MAX_WINDOWS
from loopml.monitoring.log_records import PredictionEntry
from loopml.monitoring.log_store import SERVER, RunSink, start_log_run
from loopml.monitoring.prediction_log import PredictionLog
from loopml.server import create_app
from loopml.serving.rows import Rows
from loopml.stores.artifacts.local import LocalArtifactStore
from loopml.stores.registry import open_loop_store, open_metadata_store
from loopml.tracking import Client

HOUR = 3_600_000
SERVERS = ("aaaa0001", "aaaa0002", "bbbb0003")  # registered in this order: newest last


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    folder = tmp_path_factory.mktemp("deployments-page")
    uri = f"sqlite:///{folder / 'loopml.db'}"
    loop = open_loop_store(uri)
    try:
        for number, deployment_id in enumerate(SERVERS, start=1):
            loop.register_deployment(
                NewDeployment(
                    deployment_id,
                    "churn",
                    f"http://127.0.0.1:{9000 + number}",
                    60_000,
                    alias="champion",
                    version=number,
                )
            )
        loop.end_deployment(SERVERS[0], "stopped")
    finally:
        loop.close()
    yield uri, folder / "artifacts"


@pytest.fixture(scope="module")
def app(stores: tuple[str, Path]) -> Iterator[FastAPI]:
    uri, artifacts = stores
    metadata, loop = open_metadata_store(uri), open_loop_store(uri)
    yield create_app(metadata, LocalArtifactStore(str(artifacts)), loop_store=loop)
    loop.close()
    metadata.close()


def _get(app: FastAPI, *paths: str) -> list[httpx.Response]:
    async def fetch() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return [await client.get(path) for path in paths]

    return asyncio.run(fetch())


def test_without_a_loop_store_the_page_says_there_is_nothing_to_show(
    stores: tuple[str, Path],
) -> None:
    uri, artifacts = stores
    metadata = open_metadata_store(uri)
    try:
        bare = create_app(metadata, LocalArtifactStore(str(artifacts)))
        listing, one = _get(bare, "/ui/deployments", f"/ui/deployments/{SERVERS[1]}")
    finally:
        metadata.close()
    for answer in (listing, one):
        assert answer.status_code == 200
        assert "No loop store here" in answer.text
        assert SERVERS[1] not in answer.text


def test_the_list_pages_through_the_servers_newest_first_and_filters_by_state(
    app: FastAPI,
) -> None:
    (first,) = _get(app, "/ui/deployments?per_page=2&all=true")
    assert first.status_code == 200
    assert first.text.index(SERVERS[2]) < first.text.index(SERVERS[1])
    assert SERVERS[0] not in first.text
    token = first.text.split("page_token=")[1].split('"')[0].replace("&amp;", "&")
    second, default, ended, none = _get(
        app,
        f"/ui/deployments?per_page=2&all=true&page_token={token}",
        "/ui/deployments",
        "/ui/deployments?state=ended",
        "/ui/deployments?model=no-such-model",
    )
    assert SERVERS[0] in second.text and SERVERS[2] not in second.text
    assert "First page" in second.text
    # as loopml deployments list: the ended server only with --all (all=true) or --state
    assert SERVERS[1] in default.text and SERVERS[0] not in default.text
    assert SERVERS[0] in ended.text and SERVERS[1] not in ended.text
    assert "ended (stopped)" in ended.text
    assert none.status_code == 200 and "No model server matches." in none.text


def test_a_deployment_is_shown_by_its_id_or_a_unique_prefix(app: FastAPI) -> None:
    full, prefix = _get(app, f"/ui/deployments/{SERVERS[2]}", "/ui/deployments/bbbb")
    for answer in (full, prefix):
        assert answer.status_code == 200
        assert "churn@champion" in answer.text and "http://127.0.0.1:9003" in answer.text
        assert "Monitoring of churn@champion" in answer.text
        assert "No logged predictions in these windows." in answer.text
        assert "The loop has decided nothing about churn yet." in answer.text


def test_an_unknown_or_ambiguous_deployment_is_a_404_page(app: FastAPI) -> None:
    unknown, ambiguous = _get(app, "/ui/deployments/no-such-server", "/ui/deployments/aaaa")
    # the server's error page under /ui (HTML, its message escaped)
    assert unknown.status_code == 404
    assert "No deployment 'no-such-server'" in html.unescape(unknown.text)
    assert ambiguous.status_code == 404 and "It is the start of 2 ids" in ambiguous.text


@pytest.mark.parametrize(
    ("query", "named"),
    [
        (f"/ui/deployments?per_page={MAX_PER_PAGE + 1}", "per_page"),
        ("/ui/deployments?state=sleeping", "state"),
        ("/ui/deployments?all=maybe", "all"),
        ("/ui/deployments?model=" + "m" * 201, "model"),
        (f"/ui/deployments/{SERVERS[1]}?windows={MAX_WINDOWS + 1}", "windows"),
        (f"/ui/deployments/{SERVERS[1]}?windows=0", "windows"),
        (f"/ui/deployments/{SERVERS[1]}?window=7m", "window"),
        (f"/ui/deployments/{SERVERS[1]}?decisions={MAX_DECISIONS + 1}", "decisions"),
        (f"/ui/deployments/{SERVERS[1]}?until=-1", "until"),
        ("/ui/deployments/" + "x" * 65, "deployment_id"),
    ],
)
def test_a_parameter_out_of_bounds_is_refused(app: FastAPI, query: str, named: str) -> None:
    (answer,) = _get(app, query)
    assert answer.status_code == 400
    assert named in answer.text


def test_a_client_over_the_pages_stores_runs_on_them_and_leaves_them_open(
    stores: tuple[str, Path],
) -> None:
    """What the page runs ``monitor_windows`` with: the server's own stores, never closed."""
    uri, artifacts = stores
    metadata, loop = open_metadata_store(uri), open_loop_store(uri)
    try:
        with Client.over_stores(metadata, LocalArtifactStore(str(artifacts)), loop=loop) as client:
            assert client.loop is loop
            assert client.loop.get_deployment(SERVERS[1]).model == "churn"
        # closed, the client left both stores open: the server goes on using them
        assert loop.get_deployment(SERVERS[2]).version == 3
        assert metadata.list_experiments().items is not None
    finally:
        loop.close()
        metadata.close()


def test_windows_that_hold_two_versions_add_their_traffic_and_show_each_version(
    tmp_path: Path,
) -> None:
    """The alias moved from m@1 to m@2 inside the second window: its bar counts both
    versions' requests; the error rate, drift and the drift grid's columns name each."""
    uri, artifacts = f"sqlite:///{tmp_path / 'loopml.db'}", str(tmp_path / "artifacts")
    rng = np.random.default_rng(5)
    train = tmp_path / "train.csv"
    rows = rng.normal(0, 1, (300, 2))
    train.write_text("a,b\n" + "".join(f"{a},{b}\n" for a, b in rows), encoding="utf-8")
    start = (now_ms() // HOUR - 3) * HOUR
    with Client(uri, artifacts) as client:
        loopml.data.add("train", train, client=client)
        for _ in range(2):
            with loopml.start_run("train", client=client) as run:
                run.use_dataset("train@1")
                model = DummyClassifier().fit([[0.0, 0.0], [1.0, 1.0]], [0, 1])
                loopml.models.register(
                    "m", model, input_example=[[0.0, 0.0]], run=run, client=client
                )
        server = start_log_run(client, model="m", kind=SERVER, name="serve m")
        client.loop.register_deployment(
            NewDeployment(
                server.id,
                "m",
                "http://127.0.0.1:9",
                60_000,
                alias="champion",
                version=2,
                run_id=server.id,
            )
        )
        entries = [
            PredictionEntry(
                f"{i:04d}{'0' * 28}",
                f"r{i}",
                start + i * 90_000,
                version,
                "main",
                2.0,
                Rows(pa.table({"a": rng.normal(0, 1, 3), "b": rng.normal(0, 1, 3)})),
                np.zeros(3),
            )
            for i, version in enumerate(["m@1"] * 40 + ["m@1"] * 10 + ["m@2"] * 30)
        ]
        log = PredictionLog(
            RunSink(client, server.id), tmp_path / "spool", flush_seconds=0.05, roll_seconds=3600
        )
        log.start()
        for entry in entries:
            log.add(entry)
        log.close()
    metadata, loop = open_metadata_store(uri), open_loop_store(uri)
    try:
        app = create_app(metadata, LocalArtifactStore(artifacts), loop_store=loop)
        (answer,) = _get(app, f"/ui/deployments/{server.id}?window=1h&windows=4")
    finally:
        loop.close()
        metadata.close()
    assert answer.status_code == 200
    bars = re.findall(r'<rect class="bar"[^>]*><title>([^<]*)</title>', answer.text)
    assert bars == ["40 requests", "40 requests"]  # 40 in the first hour; 10 + 30 after
    errors = answer.text.split('id="chart-errors"')[1].split("</figure>")[0]
    assert '<li class="series-0">m@1</li>' in errors and '<li class="series-1">m@2</li>' in errors
    assert "m@1</th>" in answer.text and "m@2</th>" in answer.text  # the grid's columns
