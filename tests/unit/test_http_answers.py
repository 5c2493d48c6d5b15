"""Reading HTTP/1.1 answers off a byte stream: framing by Content-Length, chunks or the
server's close; keep-alive; interim answers skipped; malformed answers refused."""

from __future__ import annotations

import io

import httpx
import pytest

from loopml.stores.remote.http_answers import AnswerHead, read_answer_head, read_body


def _read(raw: bytes, method: str = "GET") -> tuple[AnswerHead, bytes, bytes]:
    """The head, the body, and what is left on the stream after the body."""
    reader = io.BufferedReader(io.BytesIO(raw))
    head = read_answer_head(reader, method)
    body = b"".join(read_body(reader, head))
    return head, body, reader.read()


def test_a_sized_answer_is_read_to_its_length_and_leaves_the_next_one_alone() -> None:
    raw = b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
    head, body, rest = _read(raw + b"HTTP/1.1 204 No Content\r\n\r\n")
    assert (head.status, head.reason, body, head.keep_alive) == (201, b"Created", b"{}", True)
    assert head.headers == [(b"Content-Type", b"application/json"), (b"Content-Length", b"2")]
    assert rest.startswith(b"HTTP/1.1 204")


def test_a_chunked_answer_is_decoded_and_its_trailers_are_consumed() -> None:
    raw = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\nNEXT"
    )
    head, body, rest = _read(raw)
    assert (head.chunked, body, head.keep_alive, rest) == (True, b"hello world", True, b"NEXT")


def test_without_a_length_the_body_runs_to_the_close_and_the_connection_is_not_reused() -> None:
    head, body, _ = _read(b"HTTP/1.1 200 OK\r\n\r\nall of it")
    assert (head.length, body, head.keep_alive) == (None, b"all of it", False)


@pytest.mark.parametrize(
    ("raw", "method"),
    [
        (b"HTTP/1.1 204 No Content\r\n\r\n", "PUT"),
        (b"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n", "GET"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", "HEAD"),
    ],
)
def test_answers_that_have_no_body_read_none(raw: bytes, method: str) -> None:
    head, body, _ = _read(raw, method)
    assert (head.length, body, head.keep_alive) == (0, b"", True)


def test_interim_answers_are_skipped() -> None:
    raw = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx"
    head, body, _ = _read(raw)
    assert (head.status, body) == (200, b"x")


@pytest.mark.parametrize(
    "raw",
    [
        b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n",
    ],
)
def test_a_server_that_closes_gets_no_second_request(raw: bytes) -> None:
    assert _read(raw)[0].keep_alive is False


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "disconnected without sending a response"),
        (b"SSH-2.0-OpenSSH\r\n\r\n", "Not an HTTP/1.x status line"),
        (b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", "Malformed header line"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n", "in the middle of the headers"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nabc", "2 bytes before the end"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", "Content-Length"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "chunk size"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n9\r\nabc", "inside a chunk"),
    ],
)
def test_a_malformed_or_cut_answer_is_a_protocol_error(raw: bytes, message: str) -> None:
    with pytest.raises(httpx.RemoteProtocolError, match=message):
        _read(raw)
