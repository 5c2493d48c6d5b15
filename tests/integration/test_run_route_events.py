"""The run routes of a real ``loopml server`` write each change and its event in one
transaction: a request repeated after a lost answer records no second event, and a change whose
event cannot be written is not made."""

from __future__ import annotations

import sqlite3

import httpx

from loopml.core.ids import new_id
from tests.fixtures.server import PlatformServer

START = 1_700_000_000_000


def _events(api: str, target: str) -> list[str]:
    page = httpx.get(f"{api}/events", params={"max_results": 1000}).json()
    return [event["action"] for event in page["items"] if event["target"] == target]


def test_a_repeated_run_create_or_batch_records_one_event(platform_server_url: str) -> None:
    api = f"{platform_server_url}/api/v1"
    run_id = new_id()
    body = {"experiment_name": "replayed", "name": "r", "start_time": START, "run_id": run_id}
    batch = {"metrics": [], "params": [{"key": "p", "value": "1"}], "tags": [], "batch_id": "b"}
    for _ in range(2):  # the client sends these again when an answer is lost
        created = httpx.post(f"{api}/runs", json=body)
        assert created.status_code == 201 and created.json()["id"] == run_id, created.text
        logged = httpx.post(f"{api}/runs/{run_id}/batch", json=batch)
        assert logged.status_code == 204, logged.text
    assert _events(api, f"run:{run_id}") == ["run.create", "run.log_batch"]


def test_a_run_whose_event_cannot_be_written_is_not_created(
    platform_server: PlatformServer,
) -> None:
    api = f"{platform_server.url}/api/v1"
    body = {"experiment_name": "refused", "name": "r", "start_time": START}
    kept = httpx.post(f"{api}/runs", json=body).json()["id"]
    database = sqlite3.connect(platform_server.folder / "loopml.db")
    try:  # the event insert now fails inside the database, after the run's insert
        database.execute(
            "CREATE TRIGGER refuse_events BEFORE INSERT ON events "
            "BEGIN SELECT RAISE(ABORT, 'events refused'); END"
        )
        database.commit()
    finally:
        database.close()
    run_id = new_id()
    refused = httpx.post(f"{api}/runs", json={**body, "run_id": run_id})
    assert refused.status_code >= 400, refused.text
    assert httpx.get(f"{api}/runs/{run_id}").status_code == 404
    ended = httpx.put(f"{api}/runs/{kept}/status", json={"status": "FINISHED"})
    assert ended.status_code >= 400, ended.text
    assert httpx.get(f"{api}/runs/{kept}").json()["status"] == "RUNNING"
