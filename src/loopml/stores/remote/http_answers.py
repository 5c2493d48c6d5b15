"""Reading an HTTP/1.1 answer from a buffered stream: status line, headers, and the body as
its framing says (RFC 9112 §6: none, ``Content-Length``, chunked, or until the server closes).

The parsing half of :class:`~loopml.stores.remote.plain_http.PlainHttpTransport`, apart so it
can be tested on bytes. A malformed answer raises :class:`httpx.RemoteProtocolError`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

import httpx

__all__ = ["AnswerHead", "read_answer_head", "read_body"]

MAX_LINE_BYTES = 64 * 1024
MAX_HEADERS = 100
_READ_CHUNK_BYTES = 64 * 1024
_NO_BODY_STATUS = frozenset({204, 304})


@dataclass(frozen=True, slots=True)
class AnswerHead:
    """An answer's status line and headers, and how its body is framed."""

    version: bytes
    status: int
    reason: bytes
    headers: list[tuple[bytes, bytes]]
    length: int | None  # bytes of body; None: chunked, or up to the server's close
    chunked: bool
    keep_alive: bool  # the connection may carry another request once the body is read


def read_answer_head(reader: BinaryIO, method: str) -> AnswerHead:
    """The status line and headers of the next final answer (1xx interim ones skipped)."""
    while True:
        line = _line(reader)
        if not line:
            raise httpx.RemoteProtocolError("Server disconnected without sending a response.")
        version, _, rest = line.rstrip(b"\r\n").partition(b" ")
        code, _, reason = rest.partition(b" ")
        if version not in (b"HTTP/1.1", b"HTTP/1.0") or len(code) != 3 or not code.isdigit():
            raise httpx.RemoteProtocolError(f"Not an HTTP/1.x status line: {line[:80]!r}.")
        status = int(code)
        headers = _headers(reader)
        if 100 <= status < 200 and status != 101:
            continue  # 100 Continue, 103 Early Hints: the answer follows
        return _framed(version, status, reason.strip(), headers, method)


def read_body(reader: BinaryIO, head: AnswerHead) -> Iterator[bytes]:
    """The body's bytes, in parts, as the head frames it; raises if the server stops short."""
    if head.chunked:
        yield from _chunks(reader)
    elif head.length is None:
        while part := reader.read1(_READ_CHUNK_BYTES):  # type: ignore[attr-defined]
            yield part
    else:
        left = head.length
        while left:
            part = reader.read(min(left, _READ_CHUNK_BYTES))
            if not part:
                raise httpx.RemoteProtocolError(
                    f"Server closed the connection {left} bytes before the end of the body."
                )
            left -= len(part)
            yield part


def _framed(
    version: bytes, status: int, reason: bytes, headers: list[tuple[bytes, bytes]], method: str
) -> AnswerHead:
    connection = b""
    encoding = b""
    lengths = []
    for name, value in headers:
        lowered = name.lower()
        if lowered == b"content-length":
            lengths.append(value)
        elif lowered == b"transfer-encoding":
            encoding = value.lower()
        elif lowered == b"connection":
            connection = value.lower()
    tokens = {token.strip() for token in connection.split(b",")}
    keep_alive = b"close" not in tokens and (version == b"HTTP/1.1" or b"keep-alive" in tokens)
    length: int | None
    chunked = False
    if method == "HEAD" or status in _NO_BODY_STATUS or status < 200:
        length = 0
    elif encoding:
        chunked = encoding.rsplit(b",", 1)[-1].strip() == b"chunked"
        length = None
        keep_alive = keep_alive and chunked
    elif lengths:
        if len(set(lengths)) != 1 or not lengths[0].isdigit():
            raise httpx.RemoteProtocolError(f"Invalid Content-Length: {b', '.join(lengths)!r}.")
        length = int(lengths[0])
    else:
        length, keep_alive = None, False  # the body ends when the server closes
    return AnswerHead(version, status, reason, headers, length, chunked, keep_alive)


def _line(reader: BinaryIO) -> bytes:
    line = reader.readline(MAX_LINE_BYTES + 1)
    if len(line) > MAX_LINE_BYTES:
        raise httpx.RemoteProtocolError(f"An answer line is longer than {MAX_LINE_BYTES} bytes.")
    return line


def _headers(reader: BinaryIO) -> list[tuple[bytes, bytes]]:
    headers: list[tuple[bytes, bytes]] = []
    while True:
        line = _line(reader)
        if line in (b"\r\n", b"\n"):
            return headers
        if not line:
            raise httpx.RemoteProtocolError("Server disconnected in the middle of the headers.")
        name, colon, value = line.partition(b":")
        if not colon or not name or name != name.strip():
            raise httpx.RemoteProtocolError(f"Malformed header line: {line[:80]!r}.")
        headers.append((name, value.strip()))
        if len(headers) > MAX_HEADERS:
            raise httpx.RemoteProtocolError(f"More than {MAX_HEADERS} headers in an answer.")


def _chunks(reader: BinaryIO) -> Iterator[bytes]:
    while True:
        line = _line(reader)
        size_text = line.split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise httpx.RemoteProtocolError(f"Invalid chunk size line: {line[:80]!r}.") from None
        if size == 0:
            _headers(reader)  # trailers, ignored
            return
        data = reader.read(size)
        if len(data) != size or reader.read(2) != b"\r\n":
            raise httpx.RemoteProtocolError("Server closed the connection inside a chunk.")
        yield data
