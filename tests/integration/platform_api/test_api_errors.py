"""The platform API over real HTTP: unknown objects are 404 and bad input a 400 naming the
field, all in the one error shape; paths cannot leave the store; internals never show."""

from __future__ import annotations

import io
import json
import socket

import anyio
import httpx
import pytest
from fastapi import FastAPI

from loopml.core.entities import (
    ArtifactEntry,
)
from loopml.core.errors import BackendUnavailableError
from loopml.stores.remote.artifacts import HttpArtifactStore
from loopml.stores.remote.metadata import HttpMetadataStore
from tests.fixtures.backends import free_port
from tests.fixtures.server import PlatformServer
from tests.integration.platform_api.expectations import expect_error, new_run


def test_health_answers_ok_and_the_version(http: httpx.Client) -> None:
    body = http.get("/api/v1/health").json()
    assert body["status"] == "ok" and body["version"]


def test_unknown_objects_and_routes_are_404_in_the_error_shape(http: httpx.Client) -> None:
    assert "nope" in expect_error(http.get("/api/v1/runs/nope"), 404, "not_found")
    assert "nope" in expect_error(http.get("/api/v1/experiments/nope"), 404, "not_found")
    expect_error(
        http.get("/api/v1/experiments/by-name", params={"name": "absent"}), 404, "not_found"
    )
    assert "/api/v1/no-such-thing" in expect_error(
        http.get("/api/v1/no-such-thing"), 404, "not_found"
    )
    expect_error(http.get("/api/v1/runs/"), 404, "not_found")  # no redirect to another route
    expect_error(http.patch("/api/v1/events"), 405, "method_not_allowed")


def test_bad_input_is_a_400_naming_the_field(http: httpx.Client) -> None:
    bad_filter = http.post("/api/v1/runs/search", json={"filter": "metrics.auc >> 0.9"})
    assert "position 13" in expect_error(bad_filter, 400, "invalid_filter")
    assert bad_filter.json()["error"]["details"] == {"position": 13}
    bad_json = http.post(
        "/api/v1/experiments", content=b'{"name": ', headers={"content-type": "application/json"}
    )
    assert "not valid JSON" in expect_error(bad_json, 400, "invalid_input")
    assert "body.name" in expect_error(
        http.post("/api/v1/experiments", json={"name": 3}), 400, "invalid_input"
    )
    unknown = http.post("/api/v1/experiments", json={"name": "x", "colour": "red"})
    assert "body.colour" in expect_error(unknown, 400, "invalid_input")
    not_json = http.post("/api/v1/experiments", content=b"name=x")
    assert "application/json" in expect_error(not_json, 400, "invalid_input")
    metrics = {"metrics": [{"key": "m", "value": "high", "step": 0, "timestamp": 1}]}
    bad_metric = http.post("/api/v1/runs/nope/batch", json=metrics)
    assert "body.metrics[0].value" in expect_error(bad_metric, 400, "invalid_input")
    paging = http.get("/api/v1/events", params={"max_results": "lots"})
    assert "max_results" in expect_error(paging, 400, "invalid_input")
    expect_error(http.get("/api/v1/events", params={"max_results": 0}), 400, "invalid_input")
    bad_status = http.put("/api/v1/runs/x/status", json={"status": "DONE"})
    assert "body.status" in expect_error(bad_status, 400, "invalid_input")


def test_an_oversized_search_is_a_400_saying_the_limit(http: httpx.Client) -> None:
    # 500 order keys were a 500 (RecursionError), 5,000 clauses a 503 backend_unavailable
    many_keys = {"order_by": [f"metrics.m{i}" for i in range(500)]}
    message = expect_error(http.post("/api/v1/runs/search", json=many_keys), 400, "invalid_input")
    assert "order_by has 500 keys; at most 10 are allowed" in message
    many_clauses = {"filter": " and ".join(f"metrics.m{i} > 0" for i in range(5_000))}
    message = expect_error(
        http.post("/api/v1/runs/search", json=many_clauses), 400, "invalid_input"
    )
    assert "filter has more than 100 clauses" in message
    huge_page = {"max_results": 10**9}
    message = expect_error(http.post("/api/v1/runs/search", json=huge_page), 400, "invalid_input")
    assert "max_results must be from 1 to 50000" in message


def test_artifact_entries_must_point_at_uploaded_blobs_of_their_size(
    http: httpx.Client, store: HttpMetadataStore, server: PlatformServer
) -> None:
    # each of these was answered 204 and recorded
    run_id = new_run(store, "index")
    blobs = HttpArtifactStore(server.url)
    try:
        digest = str(blobs.put(io.BytesIO(b"0123456789")))
    finally:
        blobs.close()
    missing = "blake3:" + "0" * 64
    cases = [
        ({"path": "m.txt", "digest": missing, "size": 10}, "'m.txt' points at blob"),
        ({"path": "m.txt", "digest": digest, "size": 11}, "'m.txt' says 11 bytes, but"),
        ({"path": "C:/x", "digest": digest, "size": 10}, "no drive letter"),
    ]
    for entry, message in cases:
        entries = [{"path": "fine.txt", "digest": digest, "size": 10}, entry]
        added = http.post(f"/api/v1/runs/{run_id}/artifacts", json={"entries": entries})
        assert message in expect_error(added, 400, "invalid_input")
    assert store.list_artifact_entries(run_id) == []
    store.add_artifacts(run_id, [ArtifactEntry("fine.txt", digest, 10)])
    assert store.list_artifact_entries(run_id) == [ArtifactEntry("fine.txt", digest, 10)]


def test_bad_artifact_edges_are_a_4xx_naming_the_problem_and_write_nothing(
    http: httpx.Client, store: HttpMetadataStore
) -> None:
    run_id = new_run(store, "bad-edges")
    url = f"/api/v1/runs/{run_id}/artifact-edges"
    tree = "blake3:" + "cd" * 32

    def post(*edges: object) -> httpx.Response:
        return http.post(
            url, json={"edges": [{"direction": "input", "digest": tree, "name": "ok"}, *edges]}
        )

    assert "'input' or 'output'" in expect_error(
        post({"direction": "up", "digest": tree, "name": "x"}), 400, "invalid_input"
    )
    assert "digest" in expect_error(
        post({"direction": "input", "digest": "md5:0", "name": "x"}), 400, "invalid_input"
    )
    assert "name" in expect_error(
        post({"direction": "input", "digest": tree, "name": ""}), 400, "invalid_input"
    )
    assert "name" in expect_error(
        post({"direction": "input", "digest": tree, "name": "x\u0000y"}), 400, "invalid_input"
    )
    assert "body.edges[1].name" in expect_error(
        post({"direction": "input", "digest": tree}), 400, "invalid_input"
    )
    assert "body.edges[1].digest" in expect_error(
        post({"direction": "input", "digest": 7, "name": "x"}), 400, "invalid_input"
    )
    expect_error(http.post(url, json={"edges": "input"}), 400, "invalid_input")
    assert http.get("/api/v1/artifact-edges", params={"run_id": run_id}).json() == {"items": []}
    missing = http.post("/api/v1/runs/no-such-run/artifact-edges", json={"edges": []})
    assert "no-such-run" in expect_error(missing, 404, "not_found")
    bad_filter = http.get("/api/v1/artifact-edges", params={"digest": "nope"})
    assert "digest" in expect_error(bad_filter, 400, "invalid_input")


def _raw_get(url: str, path: str) -> tuple[int, bytes]:
    """A GET with the path sent exactly as written (clients normalise ``..`` away)."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def test_path_traversal_is_refused_without_touching_files(
    http: httpx.Client, store: HttpMetadataStore, server: PlatformServer
) -> None:
    run_id = new_run(store, "traversal")
    listing = http.get(f"/api/v1/runs/{run_id}/artifacts", params={"prefix": "../../etc"})
    assert "inside the run" in expect_error(listing, 400, "invalid_input")
    entry = {"path": "../escape.txt", "digest": "blake3:" + "0" * 64, "size": 1}
    added = http.post(f"/api/v1/runs/{run_id}/artifacts", json={"entries": [entry]})
    expect_error(added, 400, "invalid_input")
    expect_error(http.get("/api/v1/blobs/..%5C..%5Cetc%5Cpasswd"), 400, "invalid_input")
    assert http.head("/api/v1/blobs/blake3:..").status_code == 400
    for path in (
        "/api/v1/blobs/../../../../etc/passwd",
        "/api/v1/blobs/..%2F..%2F..%2Fetc%2Fpasswd",
        "/api/v1/blobs/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    ):
        status, body = _raw_get(server.url, path)
        assert status in (400, 404), (path, status)
        assert set(json.loads(body)) == {"error"}
        assert b"root:" not in body


def test_unexpected_errors_are_500_without_internals(offline_app: FastAPI) -> None:
    app = offline_app

    @app.get("/api/v1/explode")
    def explode() -> None:
        raise RuntimeError("secret internals: /srv/loopml password=hunter2")

    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
            return await client.get("/api/v1/explode")

    message = expect_error(anyio.run(call), 500, "internal_error")
    assert "hunter2" not in message and "RuntimeError" not in message
    assert "server log" in message


def test_an_unreachable_server_is_backend_unavailable_naming_the_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LOOPML_RETRY_BUDGET_S", "0")  # fail at once instead of riding it out
    url = f"http://127.0.0.1:{free_port()}"
    store = HttpMetadataStore(url)
    with pytest.raises(BackendUnavailableError, match=url):
        store.get_run("abc")
    store.close()
