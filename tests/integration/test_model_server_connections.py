"""``loopml serve`` against clients that hold connections: headers or a body sent slowly or
never, and more idle sockets than the process may open files. The server closes the slow ones
with 408 and keeps answering everyone else."""

from __future__ import annotations

import select
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer  # type: ignore[import-untyped]
from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]
from sklearn.pipeline import make_pipeline  # type: ignore[import-untyped]
from sklearn.preprocessing import StandardScaler  # type: ignore[import-untyped]

import loopml.models
from loopml.core.config import init_project
from loopml.tracking.client import Client
from tests.fixtures.model_server import ModelServer, start_model_server, wait_until_serving

GIVE_UP_SECONDS = 60.0  # far beyond the 1 s timeouts: a connection still open then is held


@dataclass
class Served:
    url: str
    port: int
    x: np.ndarray


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Served]]:
    folder = tmp_path_factory.mktemp("connections")
    config = init_project(folder)
    x, y = load_breast_cancer(return_X_y=True)
    with Client(config.store_uri, config.artifact_uri) as client:
        # scaled first: unscaled, lbfgs needs ~2,300 iterations (~10 s of CPU)
        model = make_pipeline(StandardScaler(), LogisticRegression()).fit(x, y)
        version = loopml.models.register("held", model, input_example=x[:5], client=client)
        loopml.models.set_alias("held", "champion", version.version, client=client)
    started: dict[str, ModelServer] = {
        "timeouts": start_model_server(
            folder, "held@champion", "--header-timeout", "1", "--body-timeout", "1", "--no-log"
        ),
        "limited": start_model_server(folder, "held@champion", file_limit=256),
    }
    try:
        ready = {name: wait_until_serving(server, 300) for name, server in started.items()}
        yield {
            name: Served(server.url, int(server.url.rsplit(":", 1)[1]), x)
            for name, server in ready.items()
        }
    finally:
        for server in started.values():
            server.stop()


def _predict(served: Served) -> httpx.Response:
    return httpx.post(
        f"{served.url}/invocations", json={"inputs": served.x[:2].tolist()}, timeout=30
    )


def _answer(sock: socket.socket) -> bytes:
    """What the server sent before it closed ``sock`` (b"" if it just closed it)."""
    sock.settimeout(GIVE_UP_SECONDS)
    received = b""
    try:
        while chunk := sock.recv(4096):
            received += chunk
    except (ConnectionResetError, TimeoutError):
        pass
    return received


def test_clients_dribbling_headers_are_closed_with_408_while_others_are_served(
    servers: dict[str, Served],
) -> None:
    served = servers["timeouts"]
    slow = [socket.create_connection(("127.0.0.1", served.port)) for _ in range(20)]
    for sock in slow:
        sock.sendall(b"POST /invocations HTTP/1.1\r\nhost: x\r\nx-slow: ")
        sock.setblocking(False)
    open_ = set(slow)
    answers: dict[socket.socket, bytes] = {}
    deadline = time.monotonic() + GIVE_UP_SECONDS
    while open_ and time.monotonic() < deadline:
        for sock in list(open_):
            try:
                sock.send(b"a")  # one byte of a header value, again and again
            except OSError:
                open_.discard(sock)
        readable, _, _ = select.select(list(open_), [], [], 0.1)
        for sock in readable:
            sock.setblocking(True)
            answers[sock] = _answer(sock)
            open_.discard(sock)
        if len(open_) == 10:  # half are closed: the server still answers a normal request
            assert _predict(served).status_code == 200
    assert not open_, f"{len(open_)} slow connections still open after {GIVE_UP_SECONDS} s"
    assert answers and all(
        answer.startswith(b"HTTP/1.1 408") or not answer for answer in answers.values()
    )
    assert any(answer.startswith(b"HTTP/1.1 408") for answer in answers.values())
    assert _predict(served).status_code == 200
    for sock in slow:
        sock.close()


def test_a_request_declaring_a_longer_body_than_it_sends_gets_408(
    servers: dict[str, Served],
) -> None:
    served = servers["timeouts"]
    with socket.create_connection(("127.0.0.1", served.port)) as sock:
        sock.sendall(
            b"POST /invocations HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
            b'content-length: 100\r\n\r\n{"inputs":'
        )
        answer = _answer(sock)
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert b"not received in time" in answer
    assert _predict(served).status_code == 200


def test_more_idle_sockets_than_the_file_limit_do_not_stop_probes_or_predictions(
    servers: dict[str, Served],
) -> None:
    served = servers["limited"]  # ulimit -n 256
    idle: list[socket.socket] = []
    try:
        for _ in range(400):
            idle.append(socket.create_connection(("127.0.0.1", served.port)))
        health = httpx.get(f"{served.url}/health", timeout=30)
        assert health.status_code == 200
        assert health.json()["prediction_log"]["status"] == "ok"
        assert _predict(served).status_code == 200
    finally:
        for sock in idle:
            sock.close()
    assert _predict(served).status_code == 200
