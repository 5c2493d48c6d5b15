"""The model registry, gate result and approval routes over real HTTP: every mistake is a 4xx
naming the problem, and a refused request writes nothing."""

from __future__ import annotations

import httpx

from loopml.core.entities import (
    ModelVersion,
)
from loopml.core.ids import new_id
from loopml.stores.remote.metadata import HttpMetadataStore
from tests.integration.platform_api.expectations import expect_error, new_run


def test_model_registry_errors_are_4xx_naming_the_problem(
    http: httpx.Client, store: HttpMetadataStore
) -> None:
    tree = "blake3:" + "ef" * 32
    model = f"api-errors-{new_run(store, 'model-errors')}"
    url = f"/api/v1/models/{model}"
    version = {"flavor": "sklearn", "tree_digest": tree, "created_at": 1}
    assert "No model named" in expect_error(http.get(url), 404, "not_found")
    assert "body.flavor" in expect_error(
        http.post(f"{url}/versions", json={**version, "flavor": 3}), 400, "invalid_input"
    )
    assert "body.metrics.auc" in expect_error(
        http.post(f"{url}/versions", json={**version, "metrics": {"auc": "NaN"}}),
        400,
        "invalid_input",
    )
    assert "tree_digest" in expect_error(
        http.post(f"{url}/versions", json={**version, "tree_digest": "md5:0"}),
        400,
        "invalid_input",
    )
    assert "letters, digits" in expect_error(
        http.post("/api/v1/models/bad%20name/versions", json=version), 400, "invalid_input"
    )
    expect_error(http.get(url), 404, "not_found")  # nothing was created by the bad requests
    added = http.post(f"{url}/versions", json={**version, "metrics": {"auc": 1}})
    assert added.status_code == 201, added.text
    assert added.json()["version"] == 1 and added.json()["metrics"] == {"auc": 1.0}
    assert http.get(f"{url}/versions/latest").json()["version"] == 1
    assert "version 2; versions: 1" in expect_error(http.get(f"{url}/versions/2"), 404, "not_found")
    assert "version" in expect_error(http.get(f"{url}/versions/two"), 400, "invalid_input")
    expect_error(http.get(f"{url}/versions/{2**40}"), 400, "invalid_input")
    assert "reserved" in expect_error(
        http.put(f"{url}/aliases/latest", json={"version": 1}), 400, "invalid_input"
    )
    assert "no version 5" in expect_error(
        http.put(f"{url}/aliases/champion", json={"version": 5}), 404, "not_found"
    )
    assert "body.version" in expect_error(
        http.put(f"{url}/aliases/champion", json={"version": "1"}), 400, "invalid_input"
    )
    assert "no alias 'champion'" in expect_error(
        http.delete(f"{url}/aliases/champion"), 404, "not_found"
    )
    moved = http.put(f"{url}/aliases/champion", json={"version": 1, "reason": "ok"}).json()
    assert (moved["from_version"], moved["to_version"], moved["actor"]) == (None, 1, "anonymous")
    assert http.get(f"{url}/aliases/champion").json() == {
        "model": model,
        "alias": "champion",
        "version": 1,
    }
    assert "'champion'" in expect_error(http.delete(f"{url}/versions/1"), 409, "conflict")
    history = http.get(f"{url}/alias-history", params={"alias": "champion"}).json()["items"]
    assert [(h["from_version"], h["to_version"], h["reason"]) for h in history] == [(None, 1, "ok")]
    removed = http.delete(f"{url}/aliases/champion", params={"reason": "done"})
    assert removed.json()["reason"] == "done"
    tagged = http.put(f"{url}/versions/1/tags/team%2Fowner", json={"value": "risk"})
    assert tagged.status_code == 204, tagged.text
    assert http.get(f"{url}/versions/1").json()["tags"] == {"team/owner": "risk"}
    assert "body.value" in expect_error(
        http.put(f"{url}/versions/1/tags/k", json={"value": 1}), 400, "invalid_input"
    )


def test_gate_result_and_approval_routes_answer_201_or_4xx_naming_the_problem(
    http: httpx.Client, store: HttpMetadataStore
) -> None:
    model = f"api-gates-{new_run(store, 'gate-errors')}"
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
    assert "policy_digest" in expect_error(
        http.post(f"{url}/gate-results", json={**gate, "policy_digest": "sha256:x"}),
        400,
        "invalid_input",
    )
    assert "body.checks" in expect_error(
        http.post(f"{url}/gate-results", json={**gate, "checks": ["x"]}), 400, "invalid_input"
    )
    assert "no version 2" in expect_error(
        http.post(f"/api/v1/models/{model}/versions/2/gate-results", json=gate), 404, "not_found"
    )
    assert http.get(f"{url}/gate-results").json() == {"items": [], "next_page_token": None}
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
    assert gate["id"] in expect_error(http.post(f"{url}/gate-results", json=gate), 409, "conflict")
    assert http.get(f"/api/v1/models/{model}/gate-results").json()["items"] == [added.json()]
    assert "comment" in expect_error(
        http.post(f"{url}/approvals", json={"comment": "c" * 2001}), 400, "invalid_input"
    )
    approved = http.post(f"{url}/approvals", json={"comment": "ok"})
    assert approved.status_code == 201, approved.text
    assert (approved.json()["actor"], approved.json()["comment"]) == ("anonymous", "ok")
    assert http.get(f"{url}/approvals").json()["items"] == [approved.json()]
