"""The platform API over real HTTP: error shapes, OpenAPI, the event trail, streaming blobs
in bounded server memory, and authorization on every route."""

from __future__ import annotations

import io
import json
import math
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import anyio
import httpx
import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts

from loopml.core.entities import (
    ArtifactEntry,
    DatasetVersion,
    GateResult,
    Metric,
    ModelVersion,
    Param,
    RunStatus,
    Tag,
)
from loopml.core.errors import BackendUnavailableError
from loopml.core.hashing import CHUNK_SIZE, hash_chunks
from loopml.core.ids import new_id, now_ms
from loopml.server import create_app
from loopml.server.auth import authorize
from loopml.stores.artifacts.local import LocalArtifactStore
from loopml.stores.metadata.base import NewRun, RunQuery
from loopml.stores.registry import open_metadata_store
from loopml.stores.remote.artifacts import HttpArtifactStore
from loopml.stores.remote.metadata import HttpMetadataStore
from tests.fixtures.backends import free_port
from tests.fixtures.server import PlatformServer, PlatformServerPool

MiB = 1 << 20
BIG_BLOB = 320 * MiB
SERVER_MEMORY_BUDGET = 128 * MiB


@pytest.fixture(scope="module")
def server(platform_server_pool: PlatformServerPool) -> Iterator[PlatformServer]:
    """One server for this module; each test makes its own experiment and runs."""
    started = platform_server_pool.take()
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture
def http(server: PlatformServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30.0) as client:
        yield client


@pytest.fixture
def offline_app(tmp_path: Path) -> Iterator[FastAPI]:
    """The app over real stores in ``tmp_path``, for tests that look at it in-process."""
    metadata = open_metadata_store(f"sqlite:///{tmp_path / 'loopml.db'}")
    yield create_app(metadata, LocalArtifactStore(str(tmp_path / "artifacts")))
    metadata.close()


@pytest.fixture
def store(server: PlatformServer) -> Iterator[HttpMetadataStore]:
    made = HttpMetadataStore(server.url)
    yield made
    made.close()


def _new_run(store: HttpMetadataStore, experiment: str) -> str:
    experiment_id = store.create_experiment(experiment).id
    return store.create_run(NewRun(experiment_id, "r", now_ms())).id


def _error(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) - {"details"} == {"code", "message"}
    assert body["error"]["code"] == code, body
    message = body["error"]["message"]
    assert isinstance(message, str) and "Traceback" not in message
    return message


def test_health_answers_ok_and_the_version(http: httpx.Client) -> None:
    body = http.get("/api/v1/health").json()
    assert body["status"] == "ok" and body["version"]


def test_unknown_objects_and_routes_are_404_in_the_error_shape(http: httpx.Client) -> None:
    assert "nope" in _error(http.get("/api/v1/runs/nope"), 404, "not_found")
    assert "nope" in _error(http.get("/api/v1/experiments/nope"), 404, "not_found")
    _error(http.get("/api/v1/experiments/by-name", params={"name": "absent"}), 404, "not_found")
    assert "/api/v1/no-such-thing" in _error(http.get("/api/v1/no-such-thing"), 404, "not_found")
    _error(http.get("/api/v1/runs/"), 404, "not_found")  # no redirect to another route
    _error(http.patch("/api/v1/events"), 405, "method_not_allowed")


def test_bad_input_is_a_400_naming_the_field(http: httpx.Client) -> None:
    bad_filter = http.post("/api/v1/runs/search", json={"filter": "metrics.auc >> 0.9"})
    assert "position 13" in _error(bad_filter, 400, "invalid_filter")
    assert bad_filter.json()["error"]["details"] == {"position": 13}
    bad_json = http.post(
        "/api/v1/experiments", content=b'{"name": ', headers={"content-type": "application/json"}
    )
    assert "not valid JSON" in _error(bad_json, 400, "invalid_input")
    assert "body.name" in _error(
        http.post("/api/v1/experiments", json={"name": 3}), 400, "invalid_input"
    )
    unknown = http.post("/api/v1/experiments", json={"name": "x", "colour": "red"})
    assert "body.colour" in _error(unknown, 400, "invalid_input")
    not_json = http.post("/api/v1/experiments", content=b"name=x")
    assert "application/json" in _error(not_json, 400, "invalid_input")
    metrics = {"metrics": [{"key": "m", "value": "high", "step": 0, "timestamp": 1}]}
    bad_metric = http.post("/api/v1/runs/nope/batch", json=metrics)
    assert "body.metrics[0].value" in _error(bad_metric, 400, "invalid_input")
    paging = http.get("/api/v1/events", params={"max_results": "lots"})
    assert "max_results" in _error(paging, 400, "invalid_input")
    _error(http.get("/api/v1/events", params={"max_results": 0}), 400, "invalid_input")
    bad_status = http.put("/api/v1/runs/x/status", json={"status": "DONE"})
    assert "body.status" in _error(bad_status, 400, "invalid_input")


def test_an_oversized_search_is_a_400_saying_the_limit(http: httpx.Client) -> None:
    # 500 order keys were a 500 (RecursionError), 5,000 clauses a 503 backend_unavailable
    many_keys = {"order_by": [f"metrics.m{i}" for i in range(500)]}
    message = _error(http.post("/api/v1/runs/search", json=many_keys), 400, "invalid_input")
    assert "order_by has 500 keys; at most 10 are allowed" in message
    many_clauses = {"filter": " and ".join(f"metrics.m{i} > 0" for i in range(5_000))}
    message = _error(http.post("/api/v1/runs/search", json=many_clauses), 400, "invalid_input")
    assert "filter has more than 100 clauses" in message
    huge_page = {"max_results": 10**9}
    message = _error(http.post("/api/v1/runs/search", json=huge_page), 400, "invalid_input")
    assert "max_results must be from 1 to 50000" in message


def test_artifact_entries_must_point_at_uploaded_blobs_of_their_size(
    http: httpx.Client, store: HttpMetadataStore, server: PlatformServer
) -> None:
    # each of these was answered 204 and recorded
    run_id = _new_run(store, "index")
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
        assert message in _error(added, 400, "invalid_input")
    assert store.list_artifact_entries(run_id) == []
    store.add_artifacts(run_id, [ArtifactEntry("fine.txt", digest, 10)])
    assert store.list_artifact_entries(run_id) == [ArtifactEntry("fine.txt", digest, 10)]


def test_bad_artifact_edges_are_a_4xx_naming_the_problem_and_write_nothing(
    http: httpx.Client, store: HttpMetadataStore
) -> None:
    run_id = _new_run(store, "bad-edges")
    url = f"/api/v1/runs/{run_id}/artifact-edges"
    tree = "blake3:" + "cd" * 32

    def post(*edges: object) -> httpx.Response:
        return http.post(
            url, json={"edges": [{"direction": "input", "digest": tree, "name": "ok"}, *edges]}
        )

    assert "'input' or 'output'" in _error(
        post({"direction": "up", "digest": tree, "name": "x"}), 400, "invalid_input"
    )
    assert "digest" in _error(
        post({"direction": "input", "digest": "md5:0", "name": "x"}), 400, "invalid_input"
    )
    assert "name" in _error(
        post({"direction": "input", "digest": tree, "name": ""}), 400, "invalid_input"
    )
    assert "name" in _error(
        post({"direction": "input", "digest": tree, "name": "x\u0000y"}), 400, "invalid_input"
    )
    assert "body.edges[1].name" in _error(
        post({"direction": "input", "digest": tree}), 400, "invalid_input"
    )
    assert "body.edges[1].digest" in _error(
        post({"direction": "input", "digest": 7, "name": "x"}), 400, "invalid_input"
    )
    _error(http.post(url, json={"edges": "input"}), 400, "invalid_input")
    assert http.get("/api/v1/artifact-edges", params={"run_id": run_id}).json() == {"items": []}
    missing = http.post("/api/v1/runs/no-such-run/artifact-edges", json={"edges": []})
    assert "no-such-run" in _error(missing, 404, "not_found")
    bad_filter = http.get("/api/v1/artifact-edges", params={"digest": "nope"})
    assert "digest" in _error(bad_filter, 400, "invalid_input")


def test_model_registry_errors_are_4xx_naming_the_problem(
    http: httpx.Client, store: HttpMetadataStore
) -> None:
    tree = "blake3:" + "ef" * 32
    model = f"api-errors-{_new_run(store, 'model-errors')}"
    url = f"/api/v1/models/{model}"
    version = {"flavor": "sklearn", "tree_digest": tree, "created_at": 1}
    assert "No model named" in _error(http.get(url), 404, "not_found")
    assert "body.flavor" in _error(
        http.post(f"{url}/versions", json={**version, "flavor": 3}), 400, "invalid_input"
    )
    assert "body.metrics.auc" in _error(
        http.post(f"{url}/versions", json={**version, "metrics": {"auc": "NaN"}}),
        400,
        "invalid_input",
    )
    assert "tree_digest" in _error(
        http.post(f"{url}/versions", json={**version, "tree_digest": "md5:0"}),
        400,
        "invalid_input",
    )
    assert "letters, digits" in _error(
        http.post("/api/v1/models/bad%20name/versions", json=version), 400, "invalid_input"
    )
    _error(http.get(url), 404, "not_found")  # nothing was created by the bad requests
    added = http.post(f"{url}/versions", json={**version, "metrics": {"auc": 1}})
    assert added.status_code == 201, added.text
    assert added.json()["version"] == 1 and added.json()["metrics"] == {"auc": 1.0}
    assert http.get(f"{url}/versions/latest").json()["version"] == 1
    assert "version 2; versions: 1" in _error(http.get(f"{url}/versions/2"), 404, "not_found")
    assert "version" in _error(http.get(f"{url}/versions/two"), 400, "invalid_input")
    _error(http.get(f"{url}/versions/{2**40}"), 400, "invalid_input")
    assert "reserved" in _error(
        http.put(f"{url}/aliases/latest", json={"version": 1}), 400, "invalid_input"
    )
    assert "no version 5" in _error(
        http.put(f"{url}/aliases/champion", json={"version": 5}), 404, "not_found"
    )
    assert "body.version" in _error(
        http.put(f"{url}/aliases/champion", json={"version": "1"}), 400, "invalid_input"
    )
    assert "no alias 'champion'" in _error(http.delete(f"{url}/aliases/champion"), 404, "not_found")
    moved = http.put(f"{url}/aliases/champion", json={"version": 1, "reason": "ok"}).json()
    assert (moved["from_version"], moved["to_version"], moved["actor"]) == (None, 1, "anonymous")
    assert http.get(f"{url}/aliases/champion").json() == {
        "model": model,
        "alias": "champion",
        "version": 1,
    }
    assert "'champion'" in _error(http.delete(f"{url}/versions/1"), 409, "conflict")
    history = http.get(f"{url}/alias-history", params={"alias": "champion"}).json()["items"]
    assert [(h["from_version"], h["to_version"], h["reason"]) for h in history] == [(None, 1, "ok")]
    removed = http.delete(f"{url}/aliases/champion", params={"reason": "done"})
    assert removed.json()["reason"] == "done"
    tagged = http.put(f"{url}/versions/1/tags/team%2Fowner", json={"value": "risk"})
    assert tagged.status_code == 204, tagged.text
    assert http.get(f"{url}/versions/1").json()["tags"] == {"team/owner": "risk"}
    assert "body.value" in _error(
        http.put(f"{url}/versions/1/tags/k", json={"value": 1}), 400, "invalid_input"
    )


def test_gate_result_and_approval_routes_answer_201_or_4xx_naming_the_problem(
    http: httpx.Client, store: HttpMetadataStore
) -> None:
    model = f"api-gates-{_new_run(store, 'gate-errors')}"
    store.add_model_version(ModelVersion(model, 0, "sklearn", "blake3:" + "ef" * 32, 1))
    url = f"/api/v1/models/{model}/versions/1"
    gate = {
        "id": new_id(),
        "passed": True,
        "checks": [{"check": "metric", "name": "auc", "passed": True}],
        "policy": {"metrics": {}},
        "policy_digest": "sha256:" + "ab" * 32,
        "evaluated_at": 1,
    }
    assert "policy_digest" in _error(
        http.post(f"{url}/gate-results", json={**gate, "policy_digest": "sha256:x"}),
        400,
        "invalid_input",
    )
    assert "body.checks" in _error(
        http.post(f"{url}/gate-results", json={**gate, "checks": ["x"]}), 400, "invalid_input"
    )
    assert "no version 2" in _error(
        http.post(f"/api/v1/models/{model}/versions/2/gate-results", json=gate), 404, "not_found"
    )
    assert http.get(f"{url}/gate-results").json() == {"items": []}
    added = http.post(f"{url}/gate-results", json=gate)
    assert added.status_code == 201, added.text
    assert added.json() == {
        **gate,
        "model": model,
        "version": 1,
        "against": None,
        "dataset": None,
        "actor": "anonymous",
    }
    assert gate["id"] in _error(http.post(f"{url}/gate-results", json=gate), 409, "conflict")
    assert http.get(f"/api/v1/models/{model}/gate-results").json()["items"] == [added.json()]
    assert "comment" in _error(
        http.post(f"{url}/approvals", json={"comment": "c" * 2001}), 400, "invalid_input"
    )
    approved = http.post(f"{url}/approvals", json={"comment": "ok"})
    assert approved.status_code == 201, approved.text
    assert (approved.json()["actor"], approved.json()["comment"]) == ("anonymous", "ok")
    assert http.get(f"{url}/approvals").json()["items"] == [approved.json()]


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
    run_id = _new_run(store, "traversal")
    listing = http.get(f"/api/v1/runs/{run_id}/artifacts", params={"prefix": "../../etc"})
    assert "inside the run" in _error(listing, 400, "invalid_input")
    entry = {"path": "../escape.txt", "digest": "blake3:" + "0" * 64, "size": 1}
    added = http.post(f"/api/v1/runs/{run_id}/artifacts", json={"entries": [entry]})
    _error(added, 400, "invalid_input")
    _error(http.get("/api/v1/blobs/..%5C..%5Cetc%5Cpasswd"), 400, "invalid_input")
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

    message = _error(anyio.run(call), 500, "internal_error")
    assert "hunter2" not in message and "RuntimeError" not in message
    assert "server log" in message


def test_openapi_describes_every_endpoint(http: httpx.Client) -> None:
    spec = http.get("/openapi.json").json()
    operations = {(method.upper(), path) for path, item in spec["paths"].items() for method in item}
    assert operations >= {
        ("GET", "/api/v1/health"),
        ("POST", "/api/v1/experiments"),
        ("GET", "/api/v1/experiments"),
        ("GET", "/api/v1/experiments/{experiment_id}"),
        ("GET", "/api/v1/experiments/by-name"),
        ("POST", "/api/v1/runs"),
        ("GET", "/api/v1/runs/{run_id}"),
        ("PUT", "/api/v1/runs/{run_id}/status"),
        ("DELETE", "/api/v1/runs/{run_id}"),
        ("POST", "/api/v1/runs/{run_id}/batch"),
        ("GET", "/api/v1/runs/{run_id}/metric-history"),
        ("POST", "/api/v1/runs/search"),
        ("POST", "/api/v1/runs/{run_id}/artifacts"),
        ("GET", "/api/v1/runs/{run_id}/artifacts"),
        ("GET", "/api/v1/events"),
        ("POST", "/api/v1/events"),
        ("PUT", "/api/v1/blobs"),
        ("GET", "/api/v1/blobs/{digest}"),
        ("HEAD", "/api/v1/blobs/{digest}"),
        ("GET", "/api/v1/datasets"),
        ("POST", "/api/v1/datasets/{name}/versions"),
        ("GET", "/api/v1/datasets/{name}/versions"),
        ("GET", "/api/v1/datasets/{name}/versions/latest"),
        ("GET", "/api/v1/datasets/{name}/versions/{version}"),
        ("DELETE", "/api/v1/datasets/{name}/versions/{version}"),
        ("DELETE", "/api/v1/datasets/{name}"),
        ("POST", "/api/v1/runs/{run_id}/dataset-inputs"),
        ("GET", "/api/v1/dataset-inputs"),
        ("POST", "/api/v1/runs/{run_id}/artifact-edges"),
        ("GET", "/api/v1/artifact-edges"),
        ("GET", "/api/v1/models"),
        ("GET", "/api/v1/models/{name}"),
        ("POST", "/api/v1/models/{name}/versions"),
        ("GET", "/api/v1/models/{name}/versions"),
        ("GET", "/api/v1/models/{name}/versions/latest"),
        ("GET", "/api/v1/models/{name}/versions/{version}"),
        ("DELETE", "/api/v1/models/{name}/versions/{version}"),
        ("PUT", "/api/v1/models/{name}/versions/{version}/tags/{key}"),
        ("PUT", "/api/v1/models/{name}/aliases/{alias}"),
        ("DELETE", "/api/v1/models/{name}/aliases/{alias}"),
        ("GET", "/api/v1/models/{name}/aliases/{alias}"),
        ("GET", "/api/v1/models/{name}/alias-history"),
        ("POST", "/api/v1/models/{name}/versions/{version}/gate-results"),
        ("GET", "/api/v1/models/{name}/versions/{version}/gate-results"),
        ("GET", "/api/v1/models/{name}/gate-results"),
        ("POST", "/api/v1/models/{name}/versions/{version}/approvals"),
        ("GET", "/api/v1/models/{name}/versions/{version}/approvals"),
        ("GET", "/api/v1/models/{name}/approvals"),
    }
    assert "HTTPBearer" in spec["components"]["securitySchemes"]


def test_non_finite_metrics_travel_as_strings_and_come_back(
    http: httpx.Client, store: HttpMetadataStore
) -> None:
    run_id = _new_run(store, "non-finite")
    values = [math.nan, math.inf, -math.inf, 0.5]
    store.log_batch(run_id, metrics=[Metric("m", v, step, 1) for step, v in enumerate(values)])
    raw = http.get(f"/api/v1/runs/{run_id}/metric-history", params={"key": "m"}).json()
    assert [item["value"] for item in raw["items"]] == ["NaN", "Infinity", "-Infinity", 0.5]
    history = [m.value for m in store.get_metric_history(run_id, "m")]
    assert math.isnan(history[0]) and history[1:] == values[1:]


def _endpoints(app: FastAPI) -> list[RouteContext]:
    """Every endpoint, with included routers expanded (``app.routes`` holds the routers)."""
    return [c for c in iter_route_contexts(app.routes) if isinstance(c.original_route, APIRoute)]


def _mutating_operations(app: FastAPI) -> set[tuple[str, str]]:
    return {
        (method, str(endpoint.path))
        for endpoint in _endpoints(app)
        for method in endpoint.methods or ()
        if method in ("POST", "PUT", "PATCH", "DELETE")
    }


def test_every_mutation_records_an_event(server: PlatformServer, offline_app: FastAPI) -> None:
    metadata = HttpMetadataStore(server.url)
    blobs = HttpArtifactStore(server.url)
    before = metadata.list_events(max_results=50_000).items
    token = "secret-token-never-logged"
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}) as http:
        created = http.post("/api/v1/experiments", json={"name": "audited"}).json()
    experiment_id = created["id"]
    run = metadata.create_run(NewRun(experiment_id, "r", now_ms()))
    metadata.log_batch(
        run.id, metrics=[Metric("m", 1.0, 0, 1)], params=[Param("p", "1")], tags=[Tag("t", "x")]
    )
    metadata.heartbeat_run(run.id)  # liveness, not a change: no event
    metadata.close_lapsed_runs(0, dry_run=True)  # only lists: no event
    digest = blobs.put(io.BytesIO(b"audited bytes"))
    metadata.add_artifacts(run.id, [ArtifactEntry("a.txt", str(digest), 13)])
    dataset = f"audited-{run.id}"
    for tree in (digest, hash_chunks(iter([b"other"]))):
        metadata.add_dataset_version(DatasetVersion(dataset, 0, str(tree), now_ms()))
    metadata.add_dataset_inputs(run.id, [(dataset, 2)])
    bare = digest.hexdigest  # stored, and recorded, with its algorithm
    metadata.add_artifact_edges(run.id, [("output", bare, "output"), ("input", bare, "raw")])
    metadata.delete_dataset_version(dataset, 1)
    metadata.delete_dataset_version(dataset)
    model = f"audited-{run.id}"
    for _ in range(2):
        metadata.add_model_version(ModelVersion(model, 0, "sklearn", str(digest), now_ms()))
    metadata.set_model_alias(model, "champion", 1, reason="first")
    metadata.set_model_alias(model, "champion", 1)  # no move, no event
    metadata.set_model_version_tag(model, 2, "stage", "staging")
    metadata.set_model_alias(model, "champion", None, reason="retired")
    metadata.delete_model_version(model, 1)
    gate = GateResult(new_id(), model, 2, True, (), {}, "sha256:" + "ab" * 32, now_ms())
    metadata.add_gate_result(gate)
    metadata.add_model_approval(model, 2, comment="ship it")
    metadata.set_run_status(run.id, RunStatus.FINISHED, None)
    metadata.delete_run(run.id)
    appended = metadata.append_event(actor="ci", action="custom.note", target="x", payload={})
    metadata.search_runs(RunQuery(experiment_ids=[experiment_id]))  # reads record nothing
    events = metadata.list_events(max_results=50_000).items[len(before) :]
    metadata.close()
    blobs.close()

    assert [(e.action, e.target) for e in events] == [
        ("experiment.create", f"experiment:{experiment_id}"),
        ("run.create", f"run:{run.id}"),
        ("run.log_batch", f"run:{run.id}"),
        ("blob.put", f"blob:{digest}"),
        ("run.add_artifacts", f"run:{run.id}"),
        ("dataset.add_version", f"dataset:{dataset}"),
        ("dataset.add_version", f"dataset:{dataset}"),
        ("run.use_datasets", f"run:{run.id}"),
        ("run.add_artifact_edges", f"run:{run.id}"),
        ("dataset.delete_version", f"dataset:{dataset}"),
        ("dataset.delete", f"dataset:{dataset}"),
        ("model.add_version", f"model:{model}"),
        ("model.add_version", f"model:{model}"),
        ("model.set_alias", f"model:{model}"),
        ("model.set_version_tag", f"model:{model}"),
        ("model.remove_alias", f"model:{model}"),
        ("model.delete_version", f"model:{model}"),
        ("model.add_gate_result", f"model:{model}"),
        ("model.approve", f"model:{model}"),
        ("run.set_status", f"run:{run.id}"),
        ("run.delete", f"run:{run.id}"),
        ("custom.note", "x"),
    ]
    assert {e.actor for e in events[:-1]} == {"anonymous"} and events[-1] == appended
    assert events[2].payload == {"metrics": 1, "params": ["p"], "tags": ["t"]}
    assert events[5].payload == {"version": 1, "tree_digest": str(digest)}
    assert (events[7].payload, events[9].payload) == ({"inputs": [f"{dataset}@2"]}, {"version": 1})
    assert events[11].payload == {
        "version": 1,
        "flavor": "sklearn",
        "tree_digest": str(digest),
    }
    assert events[13].payload == {
        "alias": "champion",
        "from_version": None,
        "to_version": 1,
        "reason": "first",
    }
    assert events[14].payload == {"version": 2, "key": "stage"}
    assert events[15].payload == {"alias": "champion", "from_version": 1, "reason": "retired"}
    assert events[16].payload == {"version": 1}
    assert events[17].payload == {
        "version": 2,
        "id": gate.id,
        "passed": True,
        "policy_digest": gate.policy_digest,
    }
    assert events[18].payload == {"version": 2, "comment": "ship it"}
    assert events[8].payload == {
        "edges": [
            {"direction": "input", "digest": str(digest), "name": "raw"},
            {"direction": "output", "digest": str(digest), "name": "output"},
        ]
    }
    assert token not in server.log()
    # every mutating route of the app was exercised above (search and a dry run only read)
    exercised = {
        ("POST", "/api/v1/experiments"),
        ("POST", "/api/v1/runs"),
        ("POST", "/api/v1/runs/{run_id}/batch"),
        ("PUT", "/api/v1/blobs"),
        ("POST", "/api/v1/runs/{run_id}/artifacts"),
        ("PUT", "/api/v1/runs/{run_id}/status"),
        ("DELETE", "/api/v1/runs/{run_id}"),
        ("POST", "/api/v1/datasets/{name}/versions"),
        ("POST", "/api/v1/runs/{run_id}/dataset-inputs"),
        ("POST", "/api/v1/runs/{run_id}/artifact-edges"),
        ("DELETE", "/api/v1/datasets/{name}/versions/{version}"),
        ("DELETE", "/api/v1/datasets/{name}"),
        ("POST", "/api/v1/models/{name}/versions"),
        ("PUT", "/api/v1/models/{name}/aliases/{alias}"),
        ("PUT", "/api/v1/models/{name}/versions/{version}/tags/{key:path}"),
        ("DELETE", "/api/v1/models/{name}/aliases/{alias}"),
        ("DELETE", "/api/v1/models/{name}/versions/{version}"),
        ("POST", "/api/v1/models/{name}/versions/{version}/gate-results"),
        ("POST", "/api/v1/models/{name}/versions/{version}/approvals"),
        ("POST", "/api/v1/events"),
        ("POST", "/api/v1/runs/search"),
        ("PUT", "/api/v1/runs/{run_id}/heartbeat"),
        ("POST", "/api/v1/runs/close-lapsed"),  # a real closure's event: test_tracking_outage
    }
    assert _mutating_operations(offline_app) == exercised


def _calls(dependant: Dependant) -> Iterator[object]:
    for sub in dependant.dependencies:
        yield sub.call
        yield from _calls(sub)


def test_authorize_guards_every_route_and_each_declares_a_permission(
    offline_app: FastAPI,
) -> None:
    endpoints = _endpoints(offline_app)
    assert len(endpoints) >= 19
    for endpoint in endpoints:
        calls = list(_calls(endpoint.dependant))
        assert authorize in calls, endpoint.path
        if endpoint.path != "/api/v1/health":
            names = [getattr(call, "__name__", "") for call in calls]
            assert any(name.startswith("require_") for name in names), endpoint.path


def test_an_unreachable_server_is_backend_unavailable_naming_the_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LOOPML_RETRY_BUDGET_S", "0")  # fail at once instead of riding it out
    url = f"http://127.0.0.1:{free_port()}"
    store = HttpMetadataStore(url)
    with pytest.raises(BackendUnavailableError, match=url):
        store.get_run("abc")
    store.close()


class _Generated(io.RawIOBase, BinaryIO):
    """``size`` bytes made on the fly from a 1 MiB block; never holds more than a block."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self._left = size
        self._block = bytes(range(256)) * (MiB // 256)

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        n = min(self._left, len(self._block) if size is None or size < 0 else size)
        n = min(n, len(self._block))
        self._left -= n
        return self._block[:n]


def _peak_rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM in /proc status")


def test_a_big_blob_streams_up_and_down_in_bounded_server_memory(server: PlatformServer) -> None:
    source = _Generated(BIG_BLOB)
    expected = hash_chunks(iter(lambda: source.read(CHUNK_SIZE), b""))
    blobs = HttpArtifactStore(server.url)
    digest = blobs.put(_Generated(BIG_BLOB))
    assert digest == expected
    assert blobs.size(digest) == BIG_BLOB
    with blobs.open(digest) as reader:
        assert hash_chunks(iter(lambda: reader.read(CHUNK_SIZE), b"")) == expected
    blobs.close()
    peak = _peak_rss(server.pid)
    assert peak < SERVER_MEMORY_BUDGET, f"server peaked at {peak / MiB:.0f} MiB"
