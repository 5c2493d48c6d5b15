"""Starting and ending runs against a real ``loopml server``: two requests a run (the
experiment goes by name in the create, the end asks for no answer body), a start whose answer
was lost is sent again and makes one run, and every change is still in the event log."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

import loopml
from loopml.core.entities import RunStatus
from loopml.stores.metadata.base import RunQuery
from loopml.stores.remote.metadata import HttpMetadataStore
from loopml.tracking.client import Client
from tests.fixtures.lossy_proxy import AnswerDroppingProxy
from tests.fixtures.server import PlatformServer

pytestmark = pytest.mark.timeout(180)


def _is_run_create(head: bytes) -> bool:
    return head.startswith(b"POST /api/v1/runs ")


@pytest.fixture
def start_dropping_proxy(platform_server: PlatformServer) -> Iterator[AnswerDroppingProxy]:
    proxy = AnswerDroppingProxy(int(platform_server.url.rsplit(":", 1)[1]), _is_run_create)
    try:
        yield proxy
    finally:
        proxy.close()


def test_a_run_start_whose_answer_was_lost_is_sent_again_and_makes_one_run(
    start_dropping_proxy: AnswerDroppingProxy, platform_server_url: str
) -> None:
    with loopml.start_run(
        experiment="lost-start", client=Client(server_url=start_dropping_proxy.url)
    ):
        pass
    assert start_dropping_proxy.dropped.is_set()  # an answer really was lost
    store = HttpMetadataStore(platform_server_url)
    experiment = store.get_experiment_by_name("lost-start")
    assert experiment is not None
    runs = store.search_runs(RunQuery(experiment_ids=[experiment.id])).items
    assert [run.status for run in runs] == [RunStatus.FINISHED]


def test_each_remote_run_is_one_request_to_start_and_one_to_end(
    platform_server: PlatformServer,
) -> None:
    proxy = AnswerDroppingProxy(int(platform_server.url.rsplit(":", 1)[1]), lambda head: False)
    try:
        for _ in range(3):  # a new client each time, as loopml.start_run() makes without one
            with loopml.start_run(experiment="counted", client=Client(server_url=proxy.url)):
                pass
    finally:
        proxy.close()
    lines = [line.rsplit(" ", 1)[0] for line in proxy.request_lines]
    assert [line.split(" ")[0] for line in lines] == ["POST", "PUT"] * 3, lines
    assert all(line.endswith("/status") for line in lines[1::2]), lines


def _events(base: str, action: str) -> list[dict[str, object]]:
    page = httpx.get(f"{base}/api/v1/events", params={"max_results": 1000}).json()
    return [event for event in page["items"] if event["action"] == action]


def test_post_runs_by_experiment_name_creates_and_audits_the_experiment_once(
    platform_server_url: str,
) -> None:
    api = f"{platform_server_url}/api/v1"
    body = {"experiment_name": "by-name", "name": "r", "start_time": 1_700_000_000_000}
    first = httpx.post(f"{api}/runs", json=body)
    second = httpx.post(f"{api}/runs", json={**body, "name": "s"})
    assert first.status_code == second.status_code == 201, first.text
    assert first.json()["experiment_id"] == second.json()["experiment_id"]
    created = _events(platform_server_url, "experiment.create")
    assert [event["target"] for event in created] == [f"experiment:{first.json()['experiment_id']}"]
    assert len(_events(platform_server_url, "run.create")) == 2
    both = httpx.post(f"{api}/runs", json={**body, "experiment_id": first.json()["experiment_id"]})
    assert both.status_code == 400 and both.json()["error"]["code"] == "invalid_input"
    bad = httpx.post(
        f"{api}/runs", json={**body, "experiment_name": "new", "tags": {"bad key!": "v"}}
    )
    assert bad.status_code == 400, bad.text
    assert httpx.get(f"{api}/experiments/by-name", params={"name": "new"}).status_code == 404


def test_ending_a_run_with_prefer_return_minimal_answers_204_and_is_audited(
    platform_server_url: str,
) -> None:
    api = f"{platform_server_url}/api/v1"
    body = {"experiment_name": "ends", "name": "r", "start_time": 1_700_000_000_000}
    minimal, full = (httpx.post(f"{api}/runs", json=body).json()["id"] for _ in range(2))
    ended = httpx.put(
        f"{api}/runs/{minimal}/status",
        json={"status": "FINISHED"},
        headers={"Prefer": "respond-async, return=minimal"},
    )
    assert ended.status_code == 204 and ended.content == b""
    answered = httpx.put(f"{api}/runs/{full}/status", json={"status": "FAILED", "end_time": 5})
    assert answered.status_code == 200 and answered.json()["status"] == "FAILED"
    stored = httpx.get(f"{api}/runs/{minimal}").json()
    assert stored["status"] == "FINISHED" and stored["end_time"] is not None
    audited = {
        event["target"]: event["payload"]
        for event in _events(platform_server_url, "run.set_status")
    }
    assert audited[f"run:{minimal}"] == {"status": "FINISHED", "end_time": stored["end_time"]}
    assert audited[f"run:{full}"] == {"status": "FAILED", "end_time": 5}
