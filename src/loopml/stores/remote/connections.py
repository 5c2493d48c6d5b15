"""One :class:`httpx.Client` per (server, token) per process, shared by every remote store.

Opening a client costs more than a request on loopback (an SSL context loads the whole CA
bundle), and ``loopml.start_run()`` opens a :class:`~loopml.tracking.Client` (a metadata and
an artifact store) for every run; sharing one pooled client also keeps one keep-alive
connection instead of a new one per run. httpx clients are thread-safe. A forked child gets
clients of its own (its parent's sockets are not its to use), found by the process id.

This is the one process-wide cache in the stores, on purpose: it holds connections, never
data, and a client is keyed by everything that makes it differ.
"""

from __future__ import annotations

import os
import socket
import ssl
import threading

import httpx

from loopml.stores.remote.plain_http import PlainHttpTransport

__all__ = ["CONNECT_TIMEOUT", "DEFAULT_TIMEOUT", "SharedHttpClients", "shared_clients"]

DEFAULT_TIMEOUT = 30.0
CONNECT_TIMEOUT = 5.0
# shorter than the server's keep-alive so a pooled connection is never reused as it closes
_KEEPALIVE_EXPIRY = 2.0
_NO_DELAY = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]


def _plain_http_context() -> ssl.SSLContext:
    """For an ``http://`` server: no CA bundle to load, and nothing it would trust if a
    request ever went to ``https://`` (redirects are not followed)."""
    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


class SharedHttpClients:
    """httpx clients by (API base URL, headers), for the current process only."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._clients: dict[tuple[str, tuple[tuple[str, str], ...]], httpx.Client] = {}
        self._tls: ssl.SSLContext | None = None
        os.register_at_fork(after_in_child=self._forget_parent)

    def get(self, base_url: str, headers: dict[str, str]) -> httpx.Client:
        """The shared client for ``base_url`` sending ``headers`` (token included)."""
        key = (base_url, tuple(sorted(headers.items())))
        if os.getpid() != self._pid:  # forked without the hook (e.g. os.fork in C code)
            self._forget_parent()
        client = self._clients.get(key)
        if client is not None and not client.is_closed:
            return client
        with self._lock:
            client = self._clients.get(key)
            if client is None or client.is_closed:
                client = self._open(base_url, headers)
                self._clients[key] = client
            return client

    def close_all(self) -> None:
        """Close every client of this process (for a clean shutdown or a test)."""
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            client.close()

    def _open(self, base_url: str, headers: dict[str, str]) -> httpx.Client:
        limits = httpx.Limits(keepalive_expiry=_KEEPALIVE_EXPIRY)
        transport: httpx.BaseTransport
        if base_url.startswith("https://"):
            if self._tls is None:  # one CA bundle load per process
                self._tls = httpx.create_ssl_context()
            verify = self._tls
            # TCP_NODELAY: the body is a write of its own, which must not wait for the
            # server's delayed ACK of the head (tens of ms per request)
            transport = httpx.HTTPTransport(verify=verify, limits=limits, socket_options=_NO_DELAY)
        else:
            verify = _plain_http_context()  # only for a proxy the environment names
            transport = PlainHttpTransport(
                keepalive_expiry=_KEEPALIVE_EXPIRY, socket_options=_NO_DELAY
            )
        return httpx.Client(
            base_url=base_url,
            headers=headers,
            verify=verify,
            transport=transport,
            timeout=httpx.Timeout(DEFAULT_TIMEOUT, connect=CONNECT_TIMEOUT),
            limits=limits,
            follow_redirects=False,
        )

    def _forget_parent(self) -> None:
        # the parent's sockets stay the parent's: drop (do not close) its clients
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._clients = {}


shared_clients = SharedHttpClients()
"""The process's shared clients (see the module's docstring for why this one is global)."""
