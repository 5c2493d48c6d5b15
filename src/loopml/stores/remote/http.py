"""One small wrapper around :class:`httpx.Client` shared by the remote stores.

It owns the base URL, the bearer token header and the timeouts, over the process's shared
pooled client (:mod:`loopml.stores.remote.connections`). It rides out short outages with the
:class:`~loopml.core.retry.RetryPolicy` (``LOOPML_RETRY_BUDGET_S``): a request that never reached
the server (connection refused, connect timeout) is always tried again; one that broke on the way
back, or was answered 502/503/504 (a proxy without its upstream, the server's
``backend_unavailable`` while its database is away), only when the request is retry-safe:
idempotent by its method, or declared so by the caller (``idempotent=True``, for a write that
carries its own id). It turns the server's error JSON back into the same :class:`LoopMLError`
subclass with :func:`error_from_code`. The token is never logged or shown.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterable, Mapping
from urllib.parse import urlsplit

import httpx

from loopml.core.errors import (
    BackendUnavailableError,
    ConfigError,
    FilterSyntaxError,
    InvalidInputError,
    LoopMLError,
    error_from_code,
)
from loopml.core.redaction import redact_uri
from loopml.core.retry import RetryPolicy
from loopml.core.version import __version__
from loopml.stores.remote.connections import CONNECT_TIMEOUT, DEFAULT_TIMEOUT, shared_clients
from loopml.stores.remote.wire import JsonObject, WireFormatError

API_PREFIX = "/api/v1"
# a blob upload is answered once the server has stored it, which takes a while for big ones
SLOW_READ_TIMEOUT = 600.0
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# a gateway without its upstream, or the server without its database or bucket
_TRANSIENT_STATUS = frozenset({502, 503, 504})

Params = Mapping[str, str | int]
ContentFactory = Callable[[], Iterable[bytes]]


class ApiClient:
    """Requests against ``<uri>/api/v1``. ``uri`` is the server's base URL."""

    def __init__(
        self,
        uri: str,
        *,
        token: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
    ) -> None:
        parts = urlsplit(uri)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(
                f"Invalid server URL {redact_uri(uri)!r}: use http://host:port or "
                "https://host[:port]."
            )
        if parts.username or parts.password:
            raise ConfigError(
                "Do not put credentials in the server URL; pass a token (LOOPML_TOKEN) instead."
            )
        # tolerate a URL that already names the API root (http://host:5000/api/v1)
        self.base_url = uri.rstrip("/").removesuffix(API_PREFIX)
        self.shown_url = redact_uri(self.base_url)
        """The base URL as errors, logs and reprs show it (secret query values masked)."""
        self._retry = retry or RetryPolicy.from_env()
        self._timeout = timeout
        headers = {"User-Agent": f"loopml/{__version__}", "Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._client = shared_clients.get(self.base_url + API_PREFIX, headers)

    def __repr__(self) -> str:  # never show the token
        return f"ApiClient({self.shown_url!r})"

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: object = None,
        params: Params | None = None,
        content: ContentFactory | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
        accept: Collection[int] = (),
        slow: bool = False,
    ) -> httpx.Response:
        """Send a request and read the whole response. A status in ``accept`` is returned
        as is; any other error status raises the error the server reported."""
        return self._send(
            method,
            path,
            json_body=json_body,
            params=params,
            content=content,
            headers=headers,
            idempotent=idempotent,
            accept=accept,
            slow=slow,
            stream=False,
        )

    def request_json(
        self,
        method: str,
        path: str,
        *,
        json_body: object = None,
        params: Params | None = None,
        idempotent: bool | None = None,
    ) -> JsonObject:
        """:meth:`request`, then the response body as a JSON object."""
        response = self.request(
            method, path, json_body=json_body, params=params, idempotent=idempotent
        )
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise WireFormatError(
                f"{method} {response.request.url.path} at {self.shown_url} did not answer a JSON "
                "object; is this URL a loopml server?"
            )
        return data

    def stream(self, method: str, path: str, *, params: Params | None = None) -> httpx.Response:
        """Send a request and return the response with its body unread; close it when done."""
        return self._send(
            method,
            path,
            json_body=None,
            params=params,
            content=None,
            headers=None,
            idempotent=None,
            accept=(),
            slow=False,
            stream=True,
        )

    def close(self) -> None:
        """Nothing to release: the pooled client is the process's, shared by every store
        on this server (see :mod:`loopml.stores.remote.connections`)."""

    def _send(
        self,
        method: str,
        path: str,
        *,
        json_body: object,
        params: Params | None,
        content: ContentFactory | None,
        headers: Mapping[str, str] | None,
        idempotent: bool | None,
        accept: Collection[int],
        slow: bool,
        stream: bool,
    ) -> httpx.Response:
        if idempotent is None:
            idempotent = method in ("GET", "HEAD", "PUT", "DELETE", "OPTIONS")
        encoded = None if json_body is None else _encode_json(json_body)
        all_headers = dict(headers or {})
        if encoded is not None:
            all_headers["Content-Type"] = "application/json"
        read = max(self._timeout, SLOW_READ_TIMEOUT) if slow else self._timeout
        timeout = httpx.Timeout(self._timeout, connect=CONNECT_TIMEOUT, read=read)
        window = self._retry.window()
        what = f"{method} {path} at {self.shown_url}"
        while True:
            request = self._client.build_request(
                method,
                path,
                params=params,
                content=encoded if content is None else content(),
                headers=all_headers,
                timeout=timeout,
            )
            try:
                response = self._client.send(request, stream=stream)
            except httpx.TransportError as exc:
                retryable = isinstance(exc, _NOT_SENT) or idempotent
                if retryable and window.wait(what, exc):
                    continue
                raise self.unavailable(exc) from exc
            if response.status_code < 300 or response.status_code in accept:
                return response
            try:
                if stream:
                    response.read()
            finally:
                response.close()
            transient = idempotent and response.status_code in _TRANSIENT_STATUS
            if transient and window.wait(what, f"HTTP {response.status_code}"):
                continue
            raise self.error_of(response)

    def unavailable(self, exc: httpx.TransportError) -> BackendUnavailableError:
        """The error for a server that could not be reached (or broke off mid-answer)."""
        reason = str(exc) or type(exc).__name__
        return BackendUnavailableError(
            f"Could not reach the loopml server at {self.shown_url} ({reason}). Check that it "
            "is running (loopml server) and that the URL (LOOPML_SERVER_URL) is right."
        )

    def error_of(self, response: httpx.Response) -> LoopMLError:
        """The :class:`LoopMLError` an error response stands for."""
        try:
            error = response.json()["error"]
            code, message = error["code"], error["message"]
            details = error.get("details") or {}
        except (ValueError, KeyError, TypeError, AttributeError):
            code = message = None
        if isinstance(code, str) and isinstance(message, str):
            rebuilt = error_from_code(code, message)
            position = details.get("position") if isinstance(details, dict) else None
            if isinstance(rebuilt, FilterSyntaxError) and isinstance(position, int):
                rebuilt.position = position
            return rebuilt
        where = f"{response.request.method} {response.request.url.path}"
        text = response.text[:200] if response.content else "no body"
        cls = BackendUnavailableError if response.status_code >= 500 else LoopMLError
        return cls(
            f"{where} at {self.shown_url} answered HTTP {response.status_code} without a loopml "
            f"error ({text}); is this URL a loopml server?"
        )


def _encode_json(body: object) -> bytes:
    try:
        return json.dumps(body, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"The request cannot be sent as JSON: {exc}.") from exc
