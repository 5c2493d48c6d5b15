"""The plain-http transport of the remote stores against a real loopback server: answers framed
every way HTTP/1.1 allows, kept-alive connections reused only while the server keeps them, a
request on a connection the server closed sent again only when that is safe, and an answer
the server cuts short an httpx error the client retries or reports."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress

import httpx
import pytest

from loopml.stores.remote.plain_http import PlainHttpTransport

ANSWER = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"
# what a server does after one of its answers: keep the connection for the next request, or
# close it (without saying so); None: read the request and close without answering
Step = tuple[bytes | None, bool]


class ScriptedServer:
    """Answers the requests it is sent, one after the other, as ``script`` says (its last step
    repeats)."""

    def __init__(self, script: Sequence[Step]) -> None:
        self.script = list(script)
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
            with conn, suppress(OSError):  # a client that left before the whole answer
                while self._answer_one(conn):
                    pass

    def _answer_one(self, conn: socket.socket) -> bool:
        """Read a request and answer it; whether the connection stays open."""
        received = b""
        while b"\r\n\r\n" not in received:
            part = conn.recv(65536)
            if not part:
                return False
            received += part
        answer, keep_open = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        if answer is None:
            return False
        if keep_open:  # the body too, before the next request (a 413 does not read it)
            head, _, body = received.partition(b"\r\n\r\n")
            for line in head.lower().split(b"\r\n"):
                if line.startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
                    while len(body) < length:
                        body += conn.recv(65536)
        conn.sendall(answer)
        return keep_open

    def close(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=10)
        self._listener.close()


@contextmanager
def scripted_server(*script: Step) -> Iterator[ScriptedServer]:
    server = ScriptedServer(script)
    try:
        yield server
    finally:
        server.close()


@contextmanager
def plain_client() -> Iterator[httpx.Client]:
    with httpx.Client(transport=PlainHttpTransport()) as client:
        yield client


def test_a_connection_the_server_closed_while_idle_is_not_used_again() -> None:
    with scripted_server((ANSWER, False)) as server, plain_client() as client:
        assert client.get(server.url + "/first").text == "ok"
        deadline = time.monotonic() + 10
        while server.accepted < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.2)  # the server's close reaches the client
        assert client.get(server.url + "/second").text == "ok"
    assert server.accepted == 2


@pytest.mark.parametrize(
    ("method", "answer", "body"),
    [
        ("GET", ANSWER, b"ok"),
        (
            "GET",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n",
            b"hello world",
        ),
        ("PUT", b"HTTP/1.1 204 No Content\r\n\r\n", b""),
        ("HEAD", b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", b""),
    ],
    ids=["sized", "chunked", "204", "HEAD"],
)
def test_an_answer_read_to_its_end_leaves_the_connection_for_the_next_request(
    method: str, answer: bytes, body: bytes
) -> None:
    with scripted_server((answer, True)) as server, plain_client() as client:
        for _ in range(2):
            assert client.request(method, server.url + "/").content == body
    assert server.accepted == 1


def test_an_answer_without_a_length_runs_to_the_close_and_its_connection_is_not_reused() -> None:
    with (
        scripted_server((b"HTTP/1.1 200 OK\r\n\r\nall of it", False)) as server,
        plain_client() as c,
    ):
        assert [c.get(server.url + "/").content for _ in range(2)] == [b"all of it"] * 2
    assert server.accepted == 2


def test_a_stream_read_to_its_end_returns_its_connection_and_one_left_early_does_not() -> None:
    big = b"HTTP/1.1 200 OK\r\nContent-Length: 200000\r\n\r\n" + b"x" * 200_000
    with scripted_server((big, True)) as server, plain_client() as client:
        with client.stream("GET", server.url + "/blob") as answer:
            assert sum(len(part) for part in answer.iter_raw()) == 200_000
        with client.stream("GET", server.url + "/blob") as answer:
            next(answer.iter_raw())  # then closed before the end: the connection goes
        assert client.get(server.url + "/blob").content == b"x" * 200_000
    assert server.accepted == 2


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", "7 bytes before the end"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel", "IncompleteRead"),
        (b"", "RemoteDisconnected"),
        (b"SSH-2.0-OpenSSH\r\n\r\n", "BadStatusLine"),
    ],
    ids=["sized", "chunked", "nothing", "not-http"],
)
def test_an_answer_cut_short_or_not_http_is_a_protocol_error(answer: bytes, message: str) -> None:
    with (
        scripted_server((answer, False)) as server,
        plain_client() as client,
        pytest.raises(httpx.RemoteProtocolError, match=message),
    ):
        client.get(server.url + "/")


@pytest.mark.parametrize(("method", "sent_again"), [("GET", True), ("POST", False)])
def test_a_request_on_a_kept_connection_the_server_drops_is_sent_again_only_if_idempotent(
    method: str, sent_again: bool
) -> None:
    # the server keeps the first connection open (so it looks reusable), then drops the
    # second request on it without an answer, as a server whose keep-alive timeout ran out
    with scripted_server((ANSWER, True), (None, False), (ANSWER, False)) as server:
        with plain_client() as client:
            assert client.request(method, server.url + "/").text == "ok"
            if sent_again:
                assert client.request(method, server.url + "/").text == "ok"
            else:
                with pytest.raises(httpx.RemoteProtocolError, match="RemoteDisconnected"):
                    client.request(method, server.url + "/")
        assert server.accepted == (2 if sent_again else 1)


def test_https_is_refused_rather_than_sent_in_the_clear() -> None:
    with plain_client() as client, pytest.raises(httpx.UnsupportedProtocol):
        client.get("https://127.0.0.1:9/")


def test_an_answer_sent_before_the_whole_body_was_read_is_the_result() -> None:
    refusal = b"HTTP/1.1 413 Payload Too Large\r\nConnection: close\r\nContent-Length: 3\r\n\r\nbig"
    with scripted_server((refusal, False)) as server, plain_client() as client:
        # the server never reads the body: writing it breaks once the buffers are full
        answer = client.put(server.url + "/blobs", content=iter([b"x" * (1 << 20)] * 64))
    assert (answer.status_code, answer.text) == (413, "big")
