"""Slow clients that the model server answers 408 (outside the app, in its HTTP protocol) are
counted in /metrics by phase, so operators see them."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import httpx
import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]

import loopml.models
from loopml.core.config import init_project
from loopml.tracking.client import Client
from tests.fixtures.model_server import start_model_server, wait_until_serving

GIVE_UP_SECONDS = 30.0


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("timeouts")
    config = init_project(folder)
    x = np.arange(20, dtype=float).reshape(10, 2)
    with Client(config.store_uri, config.artifact_uri) as client:
        model = LogisticRegression().fit(x, np.arange(10) % 2)
        version = loopml.models.register("slowpoke", model, input_example=x[:2], client=client)
        loopml.models.set_alias("slowpoke", "champion", version.version, client=client)
    server = start_model_server(
        folder, "slowpoke@champion", "--header-timeout", "1", "--body-timeout", "1", "--no-log"
    )
    try:
        yield wait_until_serving(server).url
    finally:
        server.stop()


def _timed_out(url: str, sent: bytes) -> bytes:
    """What the server answers a client that sends ``sent`` and then nothing."""
    port = int(url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(sent)
        sock.settimeout(GIVE_UP_SECONDS)
        received = b""
        while chunk := sock.recv(4096):
            received += chunk
    return received


def _timeouts(url: str) -> dict[str, float]:
    text = httpx.get(f"{url}/metrics", timeout=30).text
    return {
        sample.labels["phase"]: sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "loopml_serving_request_timeouts"
        for sample in family.samples
        if sample.name.endswith("_total")
    }


def test_408s_for_slow_headers_and_slow_bodies_are_counted_in_metrics(url: str) -> None:
    assert _timeouts(url) == {}
    headers = _timed_out(url, b"POST /invocations HTTP/1.1\r\nhost: x\r\nx-slow: a")
    assert headers.startswith(b"HTTP/1.1 408"), headers
    assert _timeouts(url) == {"headers": 1.0}
    body = _timed_out(
        url,
        b"POST /invocations HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
        b'content-length: 100\r\n\r\n{"inputs":',
    )
    assert body.startswith(b"HTTP/1.1 408"), body
    assert _timeouts(url) == {"headers": 1.0, "body": 1.0}
