"""An httpx transport for plain ``http://`` servers over the standard library's :mod:`http.client`.

httpx's default transport (httpcore over h11) spends about 0.9 ms of CPU per request on
loopback. This one sends requests and reads answers with kept-alive ``HTTPConnection`` s, at
httpx's one seam (:class:`httpx.BaseTransport`): the client, its retries and callers stay as
they are. TLS servers keep httpx's own transport. An idle connection is reused only if younger
than ``keepalive_expiry`` and not closed by the server; a request on a reused one the server
closed before answering is sent again on a new one if its body is in memory and it never got
out whole or its method is idempotent. The head and a body of up to 64 KiB go out in one write.
An answer sent before the server read the whole request (a 413) is returned rather than the
broken write. Errors are httpx's (``ConnectError``, ``ReadTimeout``, ``RemoteProtocolError`` …).
"""

from __future__ import annotations

import http.client
import itertools
import select
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from http.client import HTTPResponse

import httpx

__all__ = ["PlainHttpTransport"]

_INLINE_BODY_BYTES = 64 * 1024  # bodies up to this size travel in the same write as the head
_READ_CHUNK_BYTES = 64 * 1024
_DEFAULT_TIMEOUT = 30.0
_EARLY_ANSWER_WAIT_S = 5.0  # for an answer already sent when a write of the request broke
_IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"})
SocketOption = tuple[int, int, int]
Body = bytes | Iterable[bytes] | None


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
            raise httpx.UnsupportedProtocol(f"Plain http only, not {url.scheme!r}.")
        if not isinstance(request.stream, httpx.SyncByteStream):
            raise TypeError("PlainHttpTransport is for httpx.Client, not httpx.AsyncClient.")
        address = (url.host, url.port or 80)
        timeouts = request.extensions.get("timeout", {})
        body: Body = None
        in_memory = chunked = False
        for attempt in (1, 2):
            conn, reused = self._connection(address, timeouts.get("connect"), fresh=attempt > 1)
            try:
                if attempt == 1:  # once connected: a request that could not connect is unread
                    body, in_memory, chunked = _body(request, request.stream)
                sent = _exchange(conn, request, body, chunked, timeouts, reused and in_memory)
            except BaseException:
                conn.close()
                raise
            if sent is None:  # the server had closed it while idle: once more, on a new one
                conn.close()
                continue
            answer, keep_alive = sent
            keep = partial(self._keep, address) if keep_alive else None
            headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in answer.getheaders()]
            version = b"HTTP/1.0" if answer.version == 10 else b"HTTP/1.1"
            reason = answer.reason.encode("latin-1")
            extensions = {"http_version": version, "reason_phrase": reason}
            stream = _AnswerStream(answer, conn, keep)
            return httpx.Response(
                answer.status, headers=headers, stream=stream, extensions=extensions
            )
        raise AssertionError("unreachable: the second attempt returns or raises")

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, {}
        for connections in idle.values():
            for conn, _ in connections:
                conn.close()

    def _connection(
        self, address: tuple[str, int], timeout: float | None, *, fresh: bool
    ) -> tuple[_Connection, bool]:
        """An idle connection to ``address`` still open and young (unless ``fresh``), else a new
        one; and whether it is a reused one."""
        now = time.monotonic()
        while not fresh:
            with self._lock:
                idle = self._idle.get(address)
                if not idle:
                    break
                conn, since = idle.pop()
            if now - since < self._expiry and conn.sock is not None and not _readable(conn.sock):
                return conn, True
            conn.close()  # expired, or closed by the server (or it broke the protocol)
        conn = _Connection(*address, timeout=_DEFAULT_TIMEOUT if timeout is None else timeout)
        with _mapped(httpx.ConnectTimeout, httpx.ConnectError):
            conn.connect()
            for option in self._options:
                conn.sock.setsockopt(*option)
        return conn, False

    def _keep(self, address: tuple[str, int], conn: _Connection) -> None:
        """Keep ``conn`` (its answer read to the end) for the next request, if there is room."""
        with self._lock:
            idle = self._idle.setdefault(address, [])
            if not self._closed and len(idle) < self._max_idle:
                idle.append((conn, time.monotonic()))
                return
        conn.close()


class _Connection(http.client.HTTPConnection):
    """http.client's connection, with a small body sent in the same write as the head."""

    inline_body = b""

    def send(self, data: bytes) -> None:  # type: ignore[override]
        if self.inline_body:  # the first write after endheaders() is the head
            data, self.inline_body = data + self.inline_body, b""
        super().send(data)


class _ProducerFailed(Exception):
    """The request body's producer raised (its error is the cause)."""


class _AnswerStream(httpx.SyncByteStream):
    """The answer's body; its connection goes to ``keep`` once the body is read to the end."""

    def __init__(self, answer: HTTPResponse, conn: _Connection, keep: _Keep | None) -> None:
        self._answer = answer
        self._conn: _Connection | None = conn
        self._keep = keep

    def __iter__(self) -> Iterator[bytes]:
        with _mapped(httpx.ReadTimeout, httpx.ReadError):
            while part := self._answer.read(_READ_CHUNK_BYTES):
                yield part
        if left := self._answer.length:  # read(n) stops without a word at a close before it
            raise httpx.RemoteProtocolError(
                f"Server closed the connection {left} bytes before the end."
            )

    def close(self) -> None:
        conn, self._conn = self._conn, None
        answer = self._answer
        if conn is None:
            return
        if self._keep and answer.isclosed() and not answer.length and not answer.will_close:
            self._keep(conn)
        else:  # not read to the end, or the server closes it: unusable for another request
            answer.close()
            conn.close()


_Keep = Callable[[_Connection], None]


def _body(request: httpx.Request, stream: httpx.SyncByteStream) -> tuple[Body, bool, bool]:
    """What to send as the body (bytes when it is all in memory), whether it can be sent again,
    and whether it is chunked. Errors of the body's producer go to the caller as they are."""
    length, chunked = None, False
    for name, value in request.headers.raw:  # not .get(): a scan and a decode per lookup
        if name.lower() == b"content-length":
            length = value
        elif name.lower() == b"transfer-encoding":
            chunked = value.lower() == b"chunked"
    parts = iter(stream)
    first = next(parts, b"")
    if not chunked and (length is None or length == b"%d" % len(first)):
        return first or None, True, False  # all of it (no length: no body)
    return _produced(itertools.chain([first], parts)), False, chunked


def _exchange(
    conn: _Connection,
    request: httpx.Request,
    body: Body,
    chunked: bool,
    timeouts: dict[str, float | None],
    resendable: bool,
) -> tuple[HTTPResponse, bool] | None:
    """Send ``request``: its answer (head read), and whether the connection may be kept after
    the body; None if it was closed before any byte of the answer and the request may be sent
    again (``resendable``, and it never got out whole or its method is idempotent)."""
    assert conn.sock is not None
    conn.sock.settimeout(timeouts.get("write", _DEFAULT_TIMEOUT))
    try:
        with _mapped(httpx.WriteTimeout, httpx.WriteError):
            target = request.url.raw_path.decode("ascii")
            conn.putrequest(request.method, target, skip_host=True, skip_accept_encoding=True)
            for name, value in request.headers.raw:
                conn.putheader(name, value)
            if isinstance(body, bytes) and len(body) <= _INLINE_BODY_BYTES:
                conn.inline_body, body = body, None
            conn.endheaders(body, encode_chunked=chunked)
    except _ProducerFailed as exc:
        assert exc.__cause__ is not None
        raise exc.__cause__ from None
    except httpx.WriteError as exc:
        # a server may answer before reading the whole body (413) and close: that answer, if
        # it arrived, says more than the broken write (as httpcore does)
        try:
            return _answer(conn, _EARLY_ANSWER_WAIT_S), False
        except httpx.TransportError:
            if resendable:
                return None
            raise exc from exc.__cause__
    try:
        return _answer(conn, timeouts.get("read", _DEFAULT_TIMEOUT)), True
    except httpx.TransportError as exc:
        closed = isinstance(exc.__cause__, http.client.RemoteDisconnected | ConnectionResetError)
        if closed and resendable and request.method in _IDEMPOTENT:
            return None
        raise


def _answer(conn: _Connection, timeout: float | None) -> HTTPResponse:
    with _mapped(httpx.ReadTimeout, httpx.ReadError):
        assert conn.sock is not None
        conn.sock.settimeout(timeout)
        return conn.getresponse()


def _produced(parts: Iterable[bytes]) -> Iterator[bytes]:
    """``parts``, with errors of their producer told apart from those of the socket."""
    try:
        yield from parts
    except Exception as exc:
        raise _ProducerFailed from exc


def _readable(sock: socket.socket) -> bool:
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
    """Socket errors, and answers not whole HTTP/1.x, as the httpx errors callers handle."""
    try:
        yield
    except http.client.HTTPException as exc:  # before OSError: RemoteDisconnected is both
        raise httpx.RemoteProtocolError(f"Not a whole HTTP/1.x answer: {exc!r}.") from exc
    except TimeoutError as exc:
        raise timeout(str(exc) or "timed out") from exc
    except OSError as exc:
        raise failure(str(exc) or type(exc).__name__) from exc
