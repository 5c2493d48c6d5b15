"""Through a real ``loopml server``: each change's event names the server's principal (never a
name the client sent) and the request that made it, and the chain verifies over HTTP and on
the database behind the server alike."""

from __future__ import annotations

import httpx

from loopml.stores.metadata.sql import SqlMetadataStore
from loopml.stores.registry import open_metadata_store
from loopml.tracking.audit_log import verify_log
from tests.fixtures.server import PlatformServer


def test_events_name_the_principal_and_the_request_and_the_chain_verifies(
    platform_server: PlatformServer,
) -> None:
    api = f"{platform_server.url}/api/v1"
    created = httpx.post(
        f"{api}/experiments", json={"name": "audited"}, headers={"X-Request-ID": "ticket-42"}
    )
    assert created.status_code == 201, created.text
    assert created.headers["x-request-id"] == "ticket-42"
    run = httpx.post(
        f"{api}/runs", json={"experiment_name": "audited", "name": "r", "start_time": 1}
    )
    assert run.status_code == 201, run.text
    server_named = run.headers["x-request-id"]
    noted = httpx.post(
        f"{api}/events",
        json={"actor": "mallory", "action": "note", "target": "x", "payload": {}},
        headers={"X-Request-ID": "bad id with spaces"},  # not well-formed: the server names it
    )
    assert noted.status_code == 201, noted.text
    events = httpx.get(f"{api}/events").json()["items"]
    assert [(e["action"], e["actor"], e["request_id"]) for e in events] == [
        ("experiment.create", "anonymous", "ticket-42"),
        ("run.create", "anonymous", server_named),
        ("note", "anonymous", noted.headers["x-request-id"]),
    ]
    assert events[2]["payload"] == {"claimed_actor": "mallory"}
    assert noted.headers["x-request-id"] != "bad id with spaces" and server_named
    assert [e["seq"] for e in events] == [1, 2, 3]

    remote = open_metadata_store(platform_server.url)
    try:
        over_http = verify_log(remote)
    finally:
        remote.close()
    with SqlMetadataStore(platform_server.store_uri) as behind:
        on_the_database = verify_log(behind)
    assert over_http.ok and on_the_database.ok
    assert over_http.head == on_the_database.head and over_http.entries == 3
