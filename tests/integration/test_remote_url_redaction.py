"""A server URL may carry a credential (``?token=…``): the remote client's errors and the
reprs of remote stores and clients show it masked, against real HTTP answers on 127.0.0.1."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from loopml.core.errors import BackendUnavailableError, ConfigError, LoopMLError
from loopml.core.retry import RetryPolicy
from loopml.stores.remote.artifacts import HttpArtifactStore
from loopml.stores.remote.http import ApiClient
from loopml.stores.remote.metadata import HttpMetadataStore
from loopml.tracking.client import ClientSpec

SECRET = "s3cr3t-value"


class _NotLoopml(BaseHTTPRequestHandler):
    """Answers every request like a server that is not loopml's."""

    def do_GET(self) -> None:
        body = b"<html>nothing here</html>"
        self.send_response(404)
        self.send_header("content-type", "text/html")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def other_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NotLoopml)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_errors_of_a_server_that_answers_wrongly_do_not_show_the_token(other_server: str) -> None:
    api = ApiClient(f"{other_server}/?token={SECRET}", retry=RetryPolicy(budget_s=0))
    with pytest.raises(LoopMLError) as raised:
        api.request("GET", "/runs")
    assert "answered HTTP 404" in raised.value.message
    assert SECRET not in raised.value.message and "token=***" in raised.value.message
    assert SECRET not in repr(api)


def test_errors_of_an_unreachable_server_do_not_show_the_token() -> None:
    url = f"http://127.0.0.1:{_closed_port()}/?access_token={SECRET}"
    api = ApiClient(url, retry=RetryPolicy(budget_s=0))
    with pytest.raises(BackendUnavailableError) as raised:
        api.request("GET", "/runs")
    assert "Could not reach" in raised.value.message and SECRET not in raised.value.message


def test_an_invalid_server_url_is_named_without_its_password() -> None:
    with pytest.raises(ConfigError) as raised:
        ApiClient(f"ftp://ana:{SECRET}@127.0.0.1/")
    assert SECRET not in raised.value.message and "ftp://ana:***@127.0.0.1" in raised.value.message


def test_reprs_of_remote_stores_and_client_specs_mask_credentials() -> None:
    url = f"http://127.0.0.1:{_closed_port()}/?token={SECRET}"
    shown = [
        repr(HttpMetadataStore(url)),
        repr(HttpArtifactStore(url)),
        repr(ClientSpec(server_url=url, token=SECRET)),
        repr(ClientSpec(f"postgresql://ana:{SECRET}@127.0.0.1/ml", "s3://bucket/artifacts")),
    ]
    assert all(SECRET not in text and "***" in text for text in shown), shown
