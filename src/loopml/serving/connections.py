"""Connections the model server holds, each bounded in time and all bounded in number.

uvicorn times out idle keep-alive connections but not a client that sends its headers or its
body slowly (or never), and it accepts connections until ``accept()`` fails with EMFILE, after
which the server cannot open a model file, a log chunk or a probe's socket.
:class:`GuardedHttpProtocol` (uvicorn's httptools protocol, chosen with ``http=...``) adds:

- a header deadline: a request's headers must arrive within ``header_timeout`` seconds of its
  first byte (of the connection, for the first request); else ``408`` and the connection closes;
- a body deadline: its body must arrive within ``body_timeout`` seconds of its headers (a
  request that declares a longer body than it sends); else the app sees a disconnect, the
  client gets ``408`` and the connection closes;
- a connection cap below the process's file limit (``RLIMIT_NOFILE`` less a reserve for model
  files, the log and the store), so the server never runs out of descriptors: at the cap the
  longest-idle connection (a keep-alive one, or one still sending its headers) is closed to make
  room, and if every connection has a request in progress the new one is closed at once.

Each 408 is counted in ``/metrics`` (``loopml_serving_request_timeouts_total{phase}``): the
app's :class:`~loopml.serving.metrics.ServingMetrics` reach the protocol through the ASGI
lifespan state (:data:`~loopml.serving.metrics.METRICS_STATE`).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from dataclasses import dataclass
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from loopml.serving.metrics import METRICS_STATE, ServingMetrics

__all__ = ["PROTOCOL", "ConnectionLimits", "GuardedHttpProtocol", "connection_cap"]

PROTOCOL = "loopml.serving.connections:GuardedHttpProtocol"
LIMITS_ENV = "LOOPML_SERVE_CONNECTIONS"
_LIMITS_ATTRIBUTE = "loopml_connection_limits"
RESERVED_FILES_MIN = 64
RESERVED_FILES_MAX = 512
_TIMEOUT_BODY = b"The request was not received in time; send it again, faster.\n"


@dataclass(frozen=True)
class ConnectionLimits:
    """Seconds for a request's headers and for its body; the most open connections."""

    header_timeout: float = 10.0
    body_timeout: float = 60.0
    max_connections: int | None = None  # None: derived from RLIMIT_NOFILE

    def to_json(self) -> str:
        return json.dumps(
            {
                "header_timeout": self.header_timeout,
                "body_timeout": self.body_timeout,
                "max_connections": self.max_connections,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> ConnectionLimits:
        data: dict[str, Any] = json.loads(text)
        return cls(**data)

    def attach(self, config: Any) -> None:
        """Give ``config`` (a ``uvicorn.Config``) these limits; worker processes read them
        from the environment instead (:data:`LIMITS_ENV`)."""
        setattr(config, _LIMITS_ATTRIBUTE, self)


def connection_cap(limits: ConnectionLimits) -> int:
    """``max_connections``, at most the file limit less a reserve: a quarter of it, from 64
    to 512 descriptors, for model files, the prediction log, the store and the listener."""
    try:
        import resource

        soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (ImportError, OSError, ValueError):  # not a Unix: no such limit to keep under
        soft = -1
    if soft < 0:  # RLIM_INFINITY
        derived = 1 << 20
    else:
        reserve = max(RESERVED_FILES_MIN, min(RESERVED_FILES_MAX, soft // 4))
        derived = max(1, soft - reserve)
    given = limits.max_connections
    return min(given, derived) if given is not None else derived


def _limits_of(config: Any) -> tuple[ConnectionLimits, int]:
    found = getattr(config, _LIMITS_ATTRIBUTE, None)
    if not isinstance(found, ConnectionLimits):
        text = os.environ.get(LIMITS_ENV)
        found = ConnectionLimits.from_json(text) if text else ConnectionLimits()
        setattr(config, _LIMITS_ATTRIBUTE, found)
    cap = getattr(config, f"{_LIMITS_ATTRIBUTE}_cap", None)
    if not isinstance(cap, int):
        cap = connection_cap(found)
        setattr(config, f"{_LIMITS_ATTRIBUTE}_cap", cap)
    return found, cap


class GuardedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with header and body deadlines and a connection cap."""

    def __init__(self, config: Any, server_state: Any, app_state: Any, _loop: Any = None) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.limits, self.cap = _limits_of(config)
        self._deadline: asyncio.TimerHandle | None = None
        self._waiting_for = "headers"  # what the armed deadline waits for
        self._idle_since: float | None = time.monotonic()  # None: a request is in progress

    # the cap -----------------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.cap and not self._make_room():
            self.connections.discard(self)
            transport.abort()
            return
        self._arm(self.limits.header_timeout, "headers")

    def _make_room(self) -> bool:
        """Close the connection idle the longest (not this one); False if none is idle."""
        oldest: GuardedHttpProtocol | None = None
        for each in self.connections:
            if each is self or not isinstance(each, GuardedHttpProtocol):
                continue
            if each._idle_since is not None and (
                oldest is None or each._idle_since < (oldest._idle_since or 0.0)
            ):
                oldest = each
        if oldest is None:
            return False
        oldest._idle_since = None
        oldest.connections.discard(oldest)
        oldest.transport.abort()
        return True

    # the deadlines -----------------------------------------------------------------------------
    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._deadline is None:
            self._arm(self.limits.header_timeout, "headers")

    def on_headers_complete(self) -> None:
        self._disarm()
        self._idle_since = None
        super().on_headers_complete()
        if self.cycle is not None and self.cycle.more_body:
            self._arm(self.limits.body_timeout, "body")

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self._deadline is None:
            self._idle_since = time.monotonic()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self, seconds: float, waiting_for: str) -> None:
        self._disarm()
        self._waiting_for = waiting_for
        self._deadline = self.loop.call_later(seconds, self._timed_out)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _timed_out(self) -> None:
        """The headers or the body did not arrive in time: answer 408 and close."""
        self._deadline = None
        if self.transport.is_closing():
            return
        cycle = self.cycle
        answered = cycle is not None and cycle.response_started and not cycle.response_complete
        if cycle is not None and not cycle.response_complete:
            cycle.disconnected = True  # the app reading the body sees http.disconnect
            cycle.message_event.set()
        metrics = self.app_state.get(METRICS_STATE)  # the app's, once its lifespan started
        if isinstance(metrics, ServingMetrics):
            metrics.observe_timeout(self._waiting_for)
        if not answered:
            self.transport.write(
                b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"
                b"content-length: %d\r\nconnection: close\r\n\r\n%s"
                % (len(_TIMEOUT_BODY), _TIMEOUT_BODY)
            )
        self.transport.close()
