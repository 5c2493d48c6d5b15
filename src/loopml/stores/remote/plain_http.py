"""An httpx transport for plain ``http://`` servers over the standard library's HTTP/1.1 parser.

httpx's default transport (httpcore over h11) spends about 0.9 ms of CPU per request on
loopback, most of a remote ``start_run``'s client time; writing the request ourselves and
reading the answer with :mod:`~loopml.stores.remote.http_answers` costs about a third of that
(a run's client CPU: 3.8 → 2.7 ms). It plugs in at httpx's one seam
(:class:`httpx.BaseTransport`), so the client, its retries and every caller stay as they are.
TLS servers keep httpx's own transport.

Connections are kept alive and reused (HTTP/1.1, no pipelining): an idle one is handed out
again only if it is younger than ``keepalive_expiry`` and the server has not closed it. The
request head and a body of a few kilobytes go out in one write, so the server reads the whole
request at once. Errors are httpx's (``ConnectError``, ``ReadTimeout``, ``RemoteProtocolError``
…), which :class:`~loopml.stores.remote.http.ApiClient` retries or reports as before.
"""

from __future__ import annotations

import select
import socket
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace

import httpx

from loopml.stores.remote.http_answers import AnswerHead, read_answer_head, read_body

__all__ = ["PlainHttpTransport"]

# bodies up to this size travel in the same write as the head (about two TCP segments)
_INLINE_BODY_BYTES = 2920
_DEFAULT_TIMEOUT = 30.0
_EARLY_ANSWER_WAIT_S = 5.0  # for an answer already sent when a write of the request broke
SocketOption = tuple[int, int, int]


class PlainHttpTransport(httpx.BaseTransport):
    """HTTP/1.1 over kept-alive TCP connections, for ``http://`` URLs only (thread-safe)."""

    def __init__(
        self,
        *,
        keepalive_expiry: float = 5.0,
        max_keepalive: int = 20,
        socket_options: Sequence[SocketOption] = (),
    ) -> None:
        self._expiry = keepalive_expiry
        self._max_idle = max_keepalive
        self._options = tuple(socket_options)
        self._lock = threading.Lock()
        # idle connections by (host, port), each with the time it was handed back
        self._idle: dict[tuple[str, int], list[tuple[_Connection, float]]] = {}
        self._closed = False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if url.scheme != "http":
            raise httpx.UnsupportedProtocol(
                f"This transport speaks plain http only, not {url.scheme!r}."
            )
        address = (url.host, url.port or 80)
        timeouts = request.extensions.get("timeout", {})
        head = _request_head(request)
        body = request.stream
        if not isinstance(body, httpx.SyncByteStream):
            raise TypeError("PlainHttpTransport is for httpx.Client, not httpx.AsyncClient.")
        conn = self._connection(address, timeouts.get("connect", _DEFAULT_TIMEOUT))
        try:
            conn.sock.settimeout(timeouts.get("write", _DEFAULT_TIMEOUT))
            try:
                _send(conn.sock, head, body, chunked=_is_chunked(request))
            except httpx.WriteError as exc:
                # a server may answer before reading the whole body (413) and close: that
                # answer, if it arrived, says more than the broken write (as httpcore does)
                answer = _answer_after(exc, conn, request.method)
            else:
                with _mapped(httpx.ReadTimeout, httpx.ReadError):
                    conn.sock.settimeout(timeouts.get("read", _DEFAULT_TIMEOUT))
                    answer = read_answer_head(conn.reader, request.method)
        except BaseException:
            conn.close()
            raise
        return httpx.Response(
            answer.status,
            headers=answer.headers,
            stream=_AnswerStream(self, address, conn, answer),
            extensions={"http_version": answer.version, "reason_phrase": answer.reason},
        )

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, {}
        for connections in idle.values():
            for conn, _ in connections:
                conn.close()

    def _connection(self, address: tuple[str, int], timeout: float | None) -> _Connection:
        """An idle connection to ``address`` still open and fresh, else a new one."""
        now = time.monotonic()
        while True:
            with self._lock:
                idle = self._idle.get(address)
                if not idle:
                    break
                conn, since = idle.pop()
            if now - since < self._expiry and not _closed_by_peer(conn.sock):
                return conn
            conn.close()
        with _mapped(httpx.ConnectTimeout, httpx.ConnectError):
            sock = socket.create_connection(address, timeout=timeout)
        for option in self._options:
            sock.setsockopt(*option)
        return _Connection(sock)

    def _release(self, address: tuple[str, int], conn: _Connection) -> None:
        """Keep ``conn`` (its answer read to the end) for the next request, if there is room."""
        with self._lock:
            idle = self._idle.setdefault(address, [])
            if not self._closed and len(idle) < self._max_idle:
                idle.append((conn, time.monotonic()))
                return
        conn.close()


class _Connection:
    """A socket and the buffered reader its answers are parsed from (kept across requests)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.reader = sock.makefile("rb")

    def close(self) -> None:
        self.reader.close()
        self.sock.close()


class _AnswerStream(httpx.SyncByteStream):
    """The answer's body; its connection goes back to the pool once the body is read."""

    def __init__(
        self,
        transport: PlainHttpTransport,
        address: tuple[str, int],
        conn: _Connection,
        answer: AnswerHead,
    ) -> None:
        self._transport = transport
        self._address = address
        self._conn: _Connection | None = conn
        self._answer = answer
        self._done = answer.length == 0

    def __iter__(self) -> Iterator[bytes]:
        conn = self._conn
        if conn is None or self._done:
            return
        with _mapped(httpx.ReadTimeout, httpx.ReadError):
            yield from read_body(conn.reader, self._answer)
        self._done = True

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        if self._done and self._answer.keep_alive:
            self._transport._release(self._address, conn)
        else:  # not read to the end, or the server closes it: unusable for another request
            conn.close()


def _answer_after(error: httpx.WriteError, conn: _Connection, method: str) -> AnswerHead:
    """The answer a server sent before it stopped reading the request, else ``error``."""
    try:
        with _mapped(httpx.ReadTimeout, httpx.ReadError):
            conn.sock.settimeout(_EARLY_ANSWER_WAIT_S)
            head = read_answer_head(conn.reader, method)
    except httpx.TransportError:
        raise error from None
    return replace(head, keep_alive=False)  # the rest of the request was never sent


def _request_head(request: httpx.Request) -> bytes:
    lines = [b"%s %s HTTP/1.1" % (request.method.encode("ascii"), request.url.raw_path)]
    lines.extend(b"%s: %s" % (name, value) for name, value in request.headers.raw)
    lines.append(b"\r\n")
    return b"\r\n".join(lines)


def _is_chunked(request: httpx.Request) -> bool:
    encoding: str = request.headers.get("transfer-encoding", "")
    return encoding.lower() == "chunked"


def _send(sock: socket.socket, head: bytes, body: Iterable[bytes], *, chunked: bool) -> None:
    """The head, then the body; a small first part of the body in the head's write. Errors of
    the socket are httpx's; those of the body's producer go to the caller as they are."""
    pending = head
    for part in body:
        if not part:
            continue
        if chunked:
            part = b"%x\r\n%s\r\n" % (len(part), part)
        if pending and len(part) <= _INLINE_BODY_BYTES:
            pending += part
            continue
        if pending:
            _write(sock, pending)
            pending = b""
        _write(sock, part)
    if chunked:
        pending += b"0\r\n\r\n"
    if pending:
        _write(sock, pending)


def _write(sock: socket.socket, data: bytes) -> None:
    with _mapped(httpx.WriteTimeout, httpx.WriteError):
        sock.sendall(data)


def _closed_by_peer(sock: socket.socket) -> bool:
    """Whether an idle connection is readable: the server closed it (or broke the protocol)."""
    try:
        if hasattr(select, "poll"):  # any descriptor number, unlike select()
            poller = select.poll()
            poller.register(sock, select.POLLIN)
            return len(poller.poll(0)) > 0
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return len(readable) > 0


@contextmanager
def _mapped(
    timeout: type[httpx.TimeoutException], failure: type[httpx.TransportError]
) -> Iterator[None]:
    """Socket and HTTP parsing errors as the httpx errors its callers handle."""
    try:
        yield
    except TimeoutError as exc:
        raise timeout(str(exc) or "timed out") from exc
    except OSError as exc:
        raise failure(str(exc) or type(exc).__name__) from exc
