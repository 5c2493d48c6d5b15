"""What the platform API says about itself and records: the OpenAPI document, non-finite
metrics on the wire, an event for every mutation, and a permission on every route."""

from __future__ import annotations

import io
import math
from collections.abc import Iterator

import httpx
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
from loopml.core.hashing import hash_chunks
from loopml.core.ids import new_id, now_ms
from loopml.server.auth import authorize
from loopml.stores.metadata.base import NewRun, RunQuery
from loopml.stores.remote.artifacts import HttpArtifactStore
from loopml.stores.remote.metadata import HttpMetadataStore
from tests.fixtures.server import PlatformServer
from tests.integration.platform_api.expectations import new_run


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
        ("GET", "/api/v1/runs/{run_id}/artifact-children"),
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
    run_id = new_run(store, "non-finite")
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
        # the loop store's changes and their events (heartbeats and renewals record none):
        # tests/integration/test_loop_routes.py
        ("POST", "/api/v1/deployments"),
        ("PUT", "/api/v1/deployments/{deployment_id}/heartbeat"),
        ("POST", "/api/v1/deployments/{deployment_id}/end"),
        ("POST", "/api/v1/deployments/mark-gone"),
        ("POST", "/api/v1/leases/{name}/acquire"),
        ("POST", "/api/v1/leases/{name}/renew"),
        ("POST", "/api/v1/leases/{name}/release"),
        # loop decisions and their events: tests/integration/test_decision_routes.py
        ("POST", "/api/v1/decisions"),
        ("POST", "/api/v1/decisions/{decision_id}/advance"),
        # the agent's alert cooldowns, replaced each tick, record no event:
        # tests/contract/state_checks.py
        ("PUT", "/api/v1/loop-states"),
        # users, roles and tokens, and their events: tests/integration/test_access_control.py
        # (checking a token, POST /tokens/authenticate, changes nothing)
        ("POST", "/api/v1/users"),
        ("POST", "/api/v1/users/{name}/disable"),
        ("PUT", "/api/v1/users/{name}/roles/{project}"),
        ("DELETE", "/api/v1/users/{name}/roles/{project}"),
        ("POST", "/api/v1/tokens"),
        ("POST", "/api/v1/tokens/{token_id}/revoke"),
        ("POST", "/api/v1/tokens/authenticate"),
        # the dashboard's Verify button walks the audit log and changes nothing:
        # tests/integration/test_dashboard_audit.py
        ("POST", "/ui/audit/verify"),
        # the models page's buttons run the alias and approval routes' code, events included:
        # tests/integration/test_models_page.py
        ("POST", "/ui/models/{name}/promote"),
        ("POST", "/ui/models/{name}/rollback"),
        ("POST", "/ui/models/{name}/approve"),
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
