"""The plain-http transport of the remote stores against a real loopback server: a kept-alive
connection the server closed while idle (its keep-alive timeout) is not used again, and
an answer the server cuts short is an httpx error the client retries or reports."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from loopml.stores.remote.plain_http import PlainHttpTransport

ANSWER = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"


class OneAnswerServer:
    """Answers one request per connection, then closes it without saying so (no
    ``Connection: close``), as a server whose keep-alive timeout ran out does."""

    def __init__(self, answer: bytes) -> None:
        self.answer = answer
        self.accepted = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)  # so that the loop sees close() soon
        self._stopping = threading.Event()
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stopping.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # closed
            conn.settimeout(10)
            self.accepted += 1
            with conn:
                received = b""
                while b"\r\n\r\n" not in received:
                    part = conn.recv(65536)
                    if not part:
                        break
                    received += part
                conn.sendall(self.answer)

    def close(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=10)
        self._listener.close()


@contextmanager
def one_answer_server(answer: bytes = ANSWER) -> Iterator[OneAnswerServer]:
    server = OneAnswerServer(answer)
    try:
        yield server
    finally:
        server.close()


def test_a_connection_the_server_closed_while_idle_is_not_used_again() -> None:
    with one_answer_server() as server, httpx.Client(transport=PlainHttpTransport()) as client:
        assert client.get(server.url + "/first").text == "ok"
        deadline = time.monotonic() + 10
        while server.accepted < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.2)  # the server's close reaches the client
        assert client.get(server.url + "/second").text == "ok"
    assert server.accepted == 2


def test_an_answer_cut_short_is_a_protocol_error() -> None:
    cut = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"
    with (
        one_answer_server(cut) as server,
        httpx.Client(transport=PlainHttpTransport()) as client,
        pytest.raises(httpx.RemoteProtocolError, match="7 bytes before the end"),
    ):
        client.get(server.url + "/")


def test_https_is_refused_rather_than_sent_in_the_clear() -> None:
    with (
        httpx.Client(transport=PlainHttpTransport()) as client,
        pytest.raises(httpx.UnsupportedProtocol),
    ):
        client.get("https://127.0.0.1:9/")


def test_an_answer_sent_before_the_whole_body_was_read_is_the_result() -> None:
    refusal = b"HTTP/1.1 413 Payload Too Large\r\nConnection: close\r\nContent-Length: 3\r\n\r\nbig"
    with (
        one_answer_server(refusal) as server,
        httpx.Client(transport=PlainHttpTransport()) as client,
    ):
        # the server never reads the body: writing it breaks once the buffers are full
        answer = client.put(server.url + "/blobs", content=iter([b"x" * (1 << 20)] * 64))
    assert (answer.status_code, answer.text) == (413, "big")
