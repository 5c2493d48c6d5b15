"""A run's start and end call the SQLite store on the server's event loop (cheaper than a hop
to a worker thread) only when that cannot stall the loop: while another writer holds the
store's write lock, the start waits for it in a thread and the server keeps answering."""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path

import httpx

from loopml.stores.metadata.sql.locking import exclusive_file_lock, lock_file_for
from tests.fixtures.server import PlatformServer

API = "/api/v1"


def _start_run(url: str, run_id: str, answers: list[httpx.Response]) -> None:
    body = {"experiment_name": "held", "name": "r", "start_time": 1, "run_id": run_id}
    answers.append(httpx.post(f"{url}{API}/runs", json=body, timeout=60))


def test_a_run_start_waiting_for_the_write_lock_does_not_hold_up_the_server(
    platform_server: PlatformServer,
) -> None:
    database = Path(platform_server.store_uri.removeprefix("sqlite:///"))
    run_id = uuid.uuid4().hex
    answers: list[httpx.Response] = []
    starting = threading.Thread(target=_start_run, args=(platform_server.url, run_id, answers))
    with exclusive_file_lock(lock_file_for(database), timeout_s=None):  # another writer
        starting.start()
        time.sleep(1.0)  # the start reaches its first write and waits for the lock
        assert not answers, "a run was started while another writer held the lock"
        # on the event loop, the waiting start would hold up every other request
        health = httpx.get(f"{platform_server.url}{API}/health", timeout=10)
        assert health.status_code == 200
        assert starting.is_alive()
    starting.join(timeout=60)
    assert [answer.status_code for answer in answers] == [201]
    ended = httpx.put(
        f"{platform_server.url}{API}/runs/{run_id}/status",
        json={"status": "FINISHED"},
        timeout=10,
    )
    assert ended.status_code == 200 and ended.json()["status"] == "FINISHED"
