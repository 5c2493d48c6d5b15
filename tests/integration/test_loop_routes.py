"""The loop store's routes on a real ``loopml server``: every change is audited once (a retried
registration or goodbye, a heartbeat, a renewal are not changes), and bad requests get the
API's error body naming the field. The tests share the module's server: each reads only the
events recorded after it began."""

from __future__ import annotations

import time

import httpx

from loopml.core.ids import new_id
from loopml.core.loop_records import NewDeployment
from loopml.stores.remote.loop import HttpLoopStore
from loopml.stores.remote.metadata import HttpMetadataStore
from tests.fixtures.server import PlatformServer


def test_loop_changes_are_audited_once_and_liveness_is_not(
    shared_platform_server: PlatformServer,
) -> None:
    loop = HttpLoopStore(shared_platform_server.url)
    metadata = HttpMetadataStore(shared_platform_server.url)
    try:
        before = len(metadata.list_events(max_results=50_000).items)
        new = NewDeployment(new_id(), "cancer", "http://10.0.0.5:8080", 30_000)
        loop.register_deployment(new)
        loop.register_deployment(new)  # a retry after a lost answer
        loop.heartbeat_deployment(new.id, version=2)
        loop.end_deployment(new.id, "stopped")
        loop.end_deployment(new.id, "stopped")
        lease = loop.acquire_lease("retrain:cancer", "agent-a", 60_000)
        assert lease is not None
        loop.renew_lease(lease, 60_000)
        loop.release_lease(lease)
        loop.release_lease(lease)  # not held any more: nothing happens
        lapsing = NewDeployment(new_id(), "cancer", "http://10.0.0.6:8080", 1)
        loop.register_deployment(lapsing)
        time.sleep(0.05)  # three missed 1 ms beats: gone
        assert [d.id for d in loop.mark_gone_deployments() if d.model == "cancer"] == [lapsing.id]
        events = metadata.list_events(max_results=50_000).items[before:]
    finally:
        loop.close()
        metadata.close()
    assert [(e.action, e.target) for e in events] == [
        ("deployment.register", f"deployment:{new.id}"),
        ("deployment.end", f"deployment:{new.id}"),
        ("lease.acquire", "lease:retrain:cancer"),
        ("lease.release", "lease:retrain:cancer"),
        ("deployment.register", f"deployment:{lapsing.id}"),
        ("deployment.gone", f"deployment:{lapsing.id}"),
    ]
    assert events[1].payload["reason"] == "stopped"


def test_bad_loop_requests_answer_4xx_in_the_error_shape(
    shared_platform_server: PlatformServer,
) -> None:
    with httpx.Client(base_url=f"{shared_platform_server.url}/api/v1") as http:
        typo = http.post(
            "/deployments",
            json={"id": new_id(), "model": "m", "address": "x", "heartbeat_ms": 1, "colour": 1},
        )
        zero = http.post(
            "/deployments",
            json={"id": new_id(), "model": "m", "address": "x", "heartbeat_ms": 0},
        )
        missing = http.get(f"/deployments/{new_id()}")
        state = http.get("/deployments", params={"state": "sleeping"})
        ttl = http.post("/leases/job/acquire", json={"holder": "a", "ttl_ms": "soon"})
    assert typo.status_code == 400 and "colour" in typo.json()["error"]["message"]
    assert zero.status_code == 400 and "heartbeat_ms" in zero.json()["error"]["message"]
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    assert state.status_code == 400 and "state" in state.json()["error"]["message"]
    assert ttl.status_code == 400 and "ttl_ms" in ttl.json()["error"]["message"]
