"""The dashboard's long lists are read from the store a page at a time: the models list, a
model's versions, the datasets list, a dataset's versions and a run's artifact folder each
show one page, and the page after it is the one the store's page token names (the app in
process, over a real SQLite store and artifact folder). A forged token is a 400 page."""

from __future__ import annotations

import asyncio
import html
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI

from loopml.core.entities import ArtifactEntry, DatasetVersion, ModelVersion
from loopml.server import create_app
from loopml.stores.artifacts.local import LocalArtifactStore
from loopml.stores.metadata.base import MetadataStore, NewRun
from loopml.stores.registry import open_metadata_store

AT = 1_700_000_000_000
MODELS = [f"pager-{letter}" for letter in "edcba"]
DATASETS = [f"table-{letter}" for letter in "dcba"]
FILES = 103  # one page of a folder holds 100


@dataclass
class Served:
    app: FastAPI
    metadata: MetadataStore
    run_id: str


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp("paging")
    metadata = open_metadata_store(f"sqlite:///{folder / 'loopml.db'}")
    artifacts = LocalArtifactStore(str(folder / "artifacts"))
    for number, name in enumerate(MODELS):
        for _ in range(1 + (4 if number == 0 else 0)):  # the first has five versions
            tree = f"blake3:{len(name) + number:064x}"
            metadata.add_model_version(ModelVersion(name, 0, "sklearn", tree, AT))
    for number, name in enumerate(DATASETS):
        for version in range(1 + (4 if number == 0 else 0)):
            tree = f"blake3:{number * 100 + version + 1:064x}"
            metadata.add_dataset_version(DatasetVersion(name, 0, tree, AT, message=f"v{version}"))
    digest = str(artifacts.put(io.BytesIO(b"a line\n")))
    experiment = metadata.create_experiment("paging")
    run = metadata.create_run(NewRun(experiment.id, "many files", AT))
    entries = [ArtifactEntry(f"logs/{n:03d}.txt", digest, 7) for n in range(FILES)]
    metadata.add_artifacts(run.id, [*entries, ArtifactEntry("logs/sub/deep.txt", digest, 7)])
    try:
        yield Served(create_app(metadata, artifacts), metadata, run.id)
    finally:
        metadata.close()


def _get(app: FastAPI, *paths: str) -> list[httpx.Response]:
    async def fetch() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return [await client.get(path) for path in paths]

    return asyncio.run(fetch())


def _next_link(page: str, rel: str = "next") -> str:
    """The address of the page's ``rel`` link (the store's token in it)."""
    found = re.findall(rf'href="([^"]*)" rel="{rel}"', page)
    assert len(found) == 1, found
    return html.unescape(found[0]).split("#")[0]


def _token(link: str, name: str) -> str:
    found = re.search(rf"[?&]{name}=([^&]+)", link)
    assert found is not None, link
    return httpx.QueryParams(f"x={found.group(1)}")["x"]


def test_the_models_list_pages_follow_the_stores_token(served: Served) -> None:
    (first,) = _get(served.app, "/ui/models?per_page=2")
    assert re.findall(r'data-model="([^"]+)"', first.text) == ["pager-a", "pager-b"]
    link = _next_link(first.text)
    token = _token(link, "page_token")
    expected = served.metadata.page_registered_models(max_results=2, page_token=token)
    assert [m.name for m in expected] == ["pager-c", "pager-d"]
    (second,) = _get(served.app, link)
    shown = re.findall(r'data-model="([^"]+)"', second.text)
    assert shown == [m.name for m in expected]
    assert 'rel="first"' in second.text
    (forged,) = _get(served.app, "/ui/models?page_token=forged")
    assert forged.status_code == 400 and "page_token" in forged.text


def test_a_models_versions_pages_follow_the_stores_token(served: Served) -> None:
    name = MODELS[0]
    (first,) = _get(served.app, f"/ui/models/{name}?per_page=2")
    assert re.findall(r'<tr data-version="(\d+)"', first.text) == ["5", "4"]
    link = _next_link(first.text)
    token = _token(link, "page_token")
    expected = served.metadata.page_model_versions(
        name, max_results=2, page_token=token, newest_first=True
    )
    (second,) = _get(served.app, link)
    shown = re.findall(r'<tr data-version="(\d+)"', second.text)
    assert shown == [str(v.version) for v in expected] == ["3", "2"]
    (forged,) = _get(served.app, f"/ui/models/{name}?page_token=x{token}")
    assert forged.status_code == 400


def test_the_datasets_pages_follow_the_stores_token(served: Served) -> None:
    (first,) = _get(served.app, "/ui/data?per_page=3")
    listed = re.findall(r'<th scope="row"><a href="/ui/data/([^"]+)">', first.text)
    assert listed == ["table-a", "table-b", "table-c"]
    link = _next_link(first.text)
    expected = served.metadata.page_dataset_versions(
        max_results=3, page_token=_token(link, "page_token")
    )
    (second,) = _get(served.app, link)
    shown = re.findall(r'<th scope="row"><a href="/ui/data/([^"]+)">', second.text)
    assert shown == [v.dataset for v in expected] == ["table-d"]
    assert 'rel="next"' not in second.text

    name = DATASETS[0]
    (versions,) = _get(served.app, f"/ui/data/{name}?per_page=2")
    row = rf'<th scope="row"><a href="/ui/data/{name}/(\d+)">'
    assert re.findall(row, versions.text) == ["5", "4"]
    link = _next_link(versions.text)
    expected_versions = served.metadata.page_dataset_versions(
        name, max_results=2, page_token=_token(link, "page_token"), newest_first=True
    )
    (older,) = _get(served.app, link)
    assert re.findall(row, older.text) == [str(v.version) for v in expected_versions]
    assert [v.version for v in expected_versions] == [3, 2]
    (forged,) = _get(served.app, f"/ui/data/{name}?page_token=forged")
    assert forged.status_code == 400


def test_a_run_artifact_folder_pages_follow_the_stores_token(served: Served) -> None:
    here = f"/ui/runs/{served.run_id}"
    (first,) = _get(served.app, f"{here}?path=logs")
    names = re.findall(r'<th scope="row"><a href="[^"]*">([^<]+)</a></th>', first.text)
    assert names[:2] == ["000.txt", "001.txt"] and len(names) == 100
    link = _next_link(first.text)
    token = _token(link, "entries")
    expected = served.metadata.list_artifact_children(
        served.run_id, "logs", max_results=100, page_token=token
    )
    (second,) = _get(served.app, link)
    rest = re.findall(r'<th scope="row"><a href="[^"]*">([^<]+)</a></th>', second.text)
    assert rest == [c.path.rsplit("/", 1)[-1] + ("/" if c.is_dir else "") for c in expected]
    assert rest == ["100.txt", "101.txt", "102.txt", "sub/"]
    # a file chosen on the second page keeps that page of its folder
    (chosen,) = _get(served.app, f"{here}?path=logs/101.txt&entries={token}")
    assert chosen.status_code == 200 and "a line" in chosen.text
    assert "102.txt" in chosen.text and "000.txt" not in chosen.text
    (forged,) = _get(served.app, f"{here}?path=logs&entries=forged")
    assert forged.status_code == 400
