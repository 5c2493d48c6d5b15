"""Short outages are ridden out (``LOOPML_RETRY_BUDGET_S``): a client across a real server
restart, a pipeline step whose output or log is stored while the server is away, S3 that is
briefly unreachable; past the budget, an unreachable store is not reported as a step failure."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

import loopml
from loopml.core.entities import RunStatus
from loopml.core.errors import BackendUnavailableError, StepFailedError
from loopml.core.hashing import hash_bytes
from loopml.pipelines import run
from loopml.stores.artifacts.fsspec_store import FsspecArtifactStore
from loopml.stores.remote.http import ApiClient
from loopml.tracking.client import Client
from tests.fixtures.server import PlatformServer
from tests.fixtures.server_restarts import PlatformServerRestarts
from tests.fixtures.tcp_proxy import TcpProxy, proxy_to

OUTAGE_S = 3.0  # longer than the old fixed retries (1.4 s), well inside the budget
PROXY: list[TcpProxy] = []  # the proxy the steps below cut (steps run in this process)


@pytest.fixture(autouse=True)
def _budget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOOPML_RETRY_BUDGET_S", "60")  # generous: a loaded CI machine


def test_a_client_reads_and_writes_across_a_server_restart_on_the_same_port(
    platform_server: PlatformServer, server_restarts: PlatformServerRestarts, tmp_path: Path
) -> None:
    client = Client(server_url=platform_server.url)
    first = client.create_run("outage")
    platform_server.stop()
    # the server comes back on its own while the client's requests are refused
    server_restarts.start_again(platform_server, wait=False)
    try:
        assert client.get_run(first.id).id == first.id  # a read, sent while it starts
        second = client.create_run("outage")  # a write that never reached the server
        client.set_tag(second.id, "k", "v")
        client.flush()
        (tmp_path / "a.txt").write_text("after the restart")
        client.log_artifact(second.id, tmp_path / "a.txt")
        client.set_terminated(second.id)
        stored = client.get_run(second.id)
        assert stored.status is RunStatus.FINISHED and stored.tags["k"] == "v"
        assert [a.path for a in client.list_artifacts(second.id)] == ["a.txt"]
    finally:
        client.close()


@loopml.step(cache=False)
def outlives_an_outage() -> np.ndarray:
    PROXY[0].cut_for(OUTAGE_S)  # the output is stored while the server is away
    print("computed while the server was up")
    return np.arange(5)


@loopml.step(cache=False)
def fails_during_an_outage() -> np.ndarray:
    PROXY[0].cut_for(OUTAGE_S)
    print("about to fail")
    raise ValueError("the step's own bug")


@loopml.pipeline
def one_step() -> np.ndarray:
    return outlives_an_outage()


@loopml.pipeline
def failing() -> np.ndarray:
    return fails_during_an_outage()


@pytest.fixture
def remote_client_through_proxy(platform_server: PlatformServer) -> Iterator[Client]:
    with proxy_to(platform_server.url) as proxy:
        PROXY[:] = [proxy]
        try:
            with Client(server_url=proxy.url) as client:
                yield client
        finally:
            PROXY.clear()


def test_a_step_whose_output_is_stored_during_an_outage_is_not_a_step_failure(
    remote_client_through_proxy: Client,
) -> None:
    result = run(one_step, client=remote_client_through_proxy)
    assert result.value().tolist() == [0, 1, 2, 3, 4]
    step = result.steps["outlives_an_outage"]
    assert step.attempts == 1
    assert remote_client_through_proxy.get_run(step.run_id).status is RunStatus.FINISHED


def test_a_failed_steps_log_is_stored_once_the_server_is_back(
    remote_client_through_proxy: Client, tmp_path: Path
) -> None:
    client = remote_client_through_proxy
    with pytest.raises(StepFailedError, match="the step's own bug") as caught:
        run(failing, client=client)
    run_id = caught.value.message.split("Its run is ")[1].split(";")[0]
    client.download_artifacts(run_id, "step.log", tmp_path)
    log = (tmp_path / "step.log").read_text()
    assert "about to fail" in log and "ValueError: the step's own bug" in log


@loopml.step(cache=False)
def loses_its_store() -> np.ndarray:
    PROXY[0].cut()  # and it stays away, past the budget
    print("the step itself is fine")
    return np.arange(3)


@loopml.pipeline
def stranded() -> np.ndarray:
    return loses_its_store()


def test_a_store_away_past_the_budget_is_an_infrastructure_error_not_a_step_failure(
    s3_server: str, s3_bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOOPML_RETRY_BUDGET_S", "1")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")  # botocore's own retries would only add time
    with proxy_to(s3_server) as proxy:
        monkeypatch.setenv("LOOPML_S3_ENDPOINT_URL", proxy.url)
        PROXY[:] = [proxy]
        client = Client(
            store_uri=f"sqlite:///{tmp_path / 'loopml.db'}",
            artifact_uri=f"s3://{s3_bucket}/artifacts",
        )
        try:
            with pytest.raises(BackendUnavailableError, match="did not fail") as caught:
                run(stranded, client=client)
            assert not isinstance(caught.value, StepFailedError)
            step_run = client.search_runs(filter="attributes.name = 'loses_its_store'")[0]
            assert step_run.status is RunStatus.KILLED
        finally:
            PROXY.clear()
            client.close()


def test_s3_uploads_and_reads_ride_out_a_short_outage(
    s3_server: str, s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # botocore's own few retries would hide whether loopml's policy is what rides it out
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    with proxy_to(s3_server) as proxy:
        monkeypatch.setenv("LOOPML_S3_ENDPOINT_URL", proxy.url)
        store = FsspecArtifactStore(f"s3://{s3_bucket}/artifacts")
        before = store.put(io.BytesIO(b"before"))
        proxy.cut_for(OUTAGE_S)
        during = store.put(io.BytesIO(b"during the outage"))
        assert during == hash_bytes(b"during the outage")
        assert store.exists(before) and store.open(during).read() == b"during the outage"


class _FlakyGateway(BaseHTTPRequestHandler):
    """Answers 503 ``backend_unavailable`` (the server without its database) twice, then
    200; counts what it was sent."""

    calls: ClassVar[list[str]] = []

    def _answer(self) -> None:
        self.calls.append(self.command)
        if len(self.calls) <= 2:
            status, body = 503, {"error": {"code": "backend_unavailable", "message": "db away"}}
        else:
            status, body = 200, {"ok": True}
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self._answer()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def flaky_gateway() -> Iterator[str]:
    _FlakyGateway.calls = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FlakyGateway)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_backend_unavailable_is_retried_for_a_read_but_not_for_an_unsafe_write(
    flaky_gateway: str,
) -> None:
    api = ApiClient(flaky_gateway)
    with pytest.raises(BackendUnavailableError, match="db away"):
        api.request_json("POST", "/runs", json_body={})  # may have happened: not repeated
    assert _FlakyGateway.calls == ["POST"]
    assert api.request_json("GET", "/runs/x") == {"ok": True}
    assert _FlakyGateway.calls == ["POST", "GET", "GET"]
    _FlakyGateway.calls = []
    assert api.request_json("POST", "/runs", json_body={}, idempotent=True) == {"ok": True}
    assert _FlakyGateway.calls == ["POST", "POST", "POST"]
