"""The run page as the platform server answers it (the app in process, over a real SQLite
store and artifact folder): what it shows, its bounds (the series' points, the previews'
sizes), its errors (an unknown run, a bad ``points``, a path out of the run's artifacts), how
artifacts are served (images inline with their type, everything else as a download), and
that auth guards the series like the page."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from loopml.core.roles import Role
from loopml.dashboard.artifact_previews import HEAD_BYTES, TABLE_ROWS
from loopml.server import create_app
from loopml.server.auth import TokenAuthenticator
from loopml.stores.artifacts.local import LocalArtifactStore
from loopml.stores.identity.sql import SqlIdentityStore
from loopml.stores.registry import open_metadata_store
from tests.browser.run_page_data import SPIKE_STEP, STEPS, RunPageData, build

INLINE_HANDLER = re.compile(r"<[^>]*\son[a-z]+\s*=", re.IGNORECASE)
INLINE_STYLE = re.compile(r"<[^>]*\sstyle\s*=", re.IGNORECASE)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, RunPageData]:
    folder = tmp_path_factory.mktemp("run-page")
    return folder, build(folder)


@pytest.fixture(scope="module")
def app(project: tuple[Path, RunPageData]) -> Iterator[FastAPI]:
    folder, _ = project
    metadata = open_metadata_store(f"sqlite:///{folder / 'loopml.db'}")
    yield create_app(metadata, LocalArtifactStore(str(folder / "artifacts")))
    metadata.close()


@pytest.fixture
def data(project: tuple[Path, RunPageData]) -> RunPageData:
    return project[1]


def _get(app: FastAPI, *paths: str, headers: dict[str, str] | None = None) -> list[httpx.Response]:
    async def fetch() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return [await client.get(path, headers=headers) for path in paths]

    return asyncio.run(fetch())


def test_the_page_shows_the_run_its_child_lineage_and_artifacts(
    app: FastAPI, data: RunPageData
) -> None:
    (page,) = _get(app, f"/ui/runs/{data.run_id}")
    assert page.status_code == 200
    text = page.text
    assert "train-iris" in text and "FINISHED" in text and ">iris</a>" in text
    assert "max_depth" in text and "gini" in text  # params
    assert '<option value="loss">loss</option>' in text and "accuracy" in text  # metrics
    assert "team" in text and "vision" in text  # a user tag
    assert ">python</th>" in text and ">host</th>" in text  # system info, prefix dropped
    assert f'href="/ui/runs/{data.child_id}"' in text and "trial-0" in text  # nested
    assert ">files/</a>" in text  # the root folder
    assert "/ui/static/run.js" in text and "uPlot.iife.min.js" in text
    assert INLINE_HANDLER.search(text) is None and INLINE_STYLE.search(text) is None
    assert "unsafe-inline" not in page.headers["content-security-policy"]
    (folder,) = _get(app, f"/ui/runs/{data.run_id}?path=files")
    assert all(f">{name}</a>" in folder.text for name in ("notes.txt", "tables/", "plots/"))
    (child,) = _get(app, f"/ui/runs/{data.child_id}")
    assert child.status_code == 200 and f'href="/ui/runs/{data.run_id}"' in child.text


def test_the_series_is_thinned_to_the_points_asked_for(app: FastAPI, data: RunPageData) -> None:
    whole, thinned, unknown_key = _get(
        app,
        f"/ui/runs/{data.run_id}/series?key=loss",
        f"/ui/runs/{data.run_id}/series?key=loss&points=20",
        f"/ui/runs/{data.run_id}/series?key=nope",
    )
    assert whole.status_code == 200
    body = whole.json()
    assert set(body) == {"run", "key", "total", "downsampled", "step", "value", "timestamp"}
    assert (body["run"], body["key"], body["total"], body["downsampled"]) == (
        data.run_id,
        "loss",
        STEPS,
        False,
    )
    assert body["step"] == list(range(STEPS)) and len(body["timestamp"]) == STEPS
    small = thinned.json()
    assert small["downsampled"] and small["total"] == STEPS and len(small["step"]) <= 20
    assert small["step"][0] == 0 and small["step"][-1] == STEPS - 1
    assert SPIKE_STEP in small["step"] and max(small["value"]) == 1_000.0
    assert unknown_key.json()["total"] == 0 and unknown_key.json()["step"] == []


def test_bad_points_an_unknown_run_and_bad_ids_are_refused(app: FastAPI, data: RunPageData) -> None:
    base = f"/ui/runs/{data.run_id}/series?key=loss"
    one, too_many, words = _get(app, f"{base}&points=1", f"{base}&points=5001", f"{base}&points=x")
    assert one.status_code == too_many.status_code == words.status_code == 400
    missing = "0" * 32
    page, series, artifact = _get(
        app,
        f"/ui/runs/{missing}",
        f"/ui/runs/{missing}/series?key=loss",
        f"/ui/runs/{missing}/artifact?path=notes.txt",
    )
    assert page.status_code == series.status_code == artifact.status_code == 404
    assert missing in page.text
    (long_id,) = _get(app, f"/ui/runs/{'a' * 65}")
    assert long_id.status_code == 400


def test_paths_out_of_the_runs_artifacts_are_refused(app: FastAPI, data: RunPageData) -> None:
    run = f"/ui/runs/{data.run_id}"
    answers = _get(
        app,
        f"{run}?path=../../etc/passwd",
        f"{run}?path=/etc/passwd",
        f"{run}/artifact?path=files/../../secret",
        f"{run}/artifact?path=/etc/passwd",
        f"{run}/artifact?path=files%5C..%5Cx",
    )
    assert [answer.status_code for answer in answers] == [400] * 5
    missing, folder = _get(app, f"{run}?path=files/nothing.txt", f"{run}/artifact?path=files")
    assert missing.status_code == 404 and folder.status_code == 404  # a folder: no download


def test_a_long_text_is_cut_and_every_text_escaped(app: FastAPI, data: RunPageData) -> None:
    run = f"/ui/runs/{data.run_id}"
    log, notes = _get(app, f"{run}?path=files/train.log", f"{run}?path=files/notes.txt")
    assert log.status_code == 200 and "line 00000 of the training log" in log.text
    assert "line 19999" not in log.text and "Only the beginning is shown" in log.text
    assert len(log.text) < HEAD_BYTES + 40_000  # the head, not the 400 KiB file
    assert "&lt;script&gt;alert(" in notes.text and "<script>alert(" not in notes.text


def test_tables_show_their_first_rows(app: FastAPI, data: RunPageData) -> None:
    run = f"/ui/runs/{data.run_id}"
    parquet, csv, summary = _get(
        app,
        f"{run}?path=files/tables/iris.parquet",
        f"{run}?path=files/tables/iris.csv",
        f"{run}?path=files/tables/summary.json",
    )
    for answer in (parquet, csv):
        assert answer.status_code == 200
        table = answer.text.split('class="runs artifact-table"', 1)[1]
        assert '<th scope="col">species</th>' in table
        assert table.count("<tr>") == TABLE_ROWS + 1  # the header and the first rows
        assert "Only the first rows" in answer.text
    assert "150 rows, 6 columns." in parquet.text
    assert "versicolor" in summary.text and '<th scope="col">rows</th>' in summary.text


def test_images_are_served_inline_and_everything_else_as_a_download(
    app: FastAPI, data: RunPageData
) -> None:
    run = f"/ui/runs/{data.run_id}/artifact"
    png, svg, binary, png_download = _get(
        app,
        f"{run}?path=files/plots/curve.png&inline=true",
        f"{run}?path=files/plots/shape.svg&inline=true",
        f"{run}?path=files/model.bin&inline=true",
        f"{run}?path=files/plots/curve.png",
    )
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
    assert png.headers["content-type"] == "image/png"
    assert png.headers["content-disposition"].startswith("inline;")
    assert svg.headers["content-type"].startswith("image/svg+xml")
    for answer in (png, svg, binary, png_download):
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert "sandbox" in answer.headers["content-security-policy"]
    assert binary.headers["content-type"] == "application/octet-stream"
    assert binary.headers["content-disposition"] == "attachment; filename*=UTF-8''model.bin"
    assert binary.content == bytes(range(256)) * 4
    assert png_download.headers["content-disposition"].startswith("attachment;")


def test_with_auth_on_the_series_is_guarded_like_the_page(
    project: tuple[Path, RunPageData], tmp_path: Path
) -> None:
    folder, data = project
    identity = SqlIdentityStore(f"sqlite:///{tmp_path / 'identity.db'}")
    metadata = open_metadata_store(f"sqlite:///{folder / 'loopml.db'}")
    try:
        identity.add_user("vera")
        identity.grant_role("vera", "*", Role.VIEWER)
        identity.add_user("nobody")
        viewer, stranger = identity.create_token("vera"), identity.create_token("nobody")
        app = create_app(
            metadata,
            LocalArtifactStore(str(folder / "artifacts")),
            identity_store=identity,
            authenticator=TokenAuthenticator(identity, project="default", cache_seconds=0),
        )
        paths = (
            f"/ui/runs/{data.run_id}",
            f"/ui/runs/{data.run_id}/series?key=loss",
            f"/ui/runs/{data.run_id}/artifact?path=files/notes.txt",
        )
        assert [r.status_code for r in _get(app, *paths)] == [401] * 3
        bearer = {"Authorization": f"Bearer {stranger.secret}"}
        assert [r.status_code for r in _get(app, *paths, headers=bearer)] == [403] * 3
        bearer = {"Authorization": f"Bearer {viewer.secret}"}
        assert [r.status_code for r in _get(app, *paths, headers=bearer)] == [200] * 3
    finally:
        metadata.close()
        identity.close()
