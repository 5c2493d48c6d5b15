"""Bounds on what one request may send, enforced before the body reaches a route.

JSON requests may carry at most ``max_body_bytes``; blob uploads (``PUT /api/v1/blobs``) at
most ``max_blob_bytes``. A declared ``Content-Length`` over the limit is answered 413 at once,
before any of the body is read; a body without one (chunked) is counted as it streams in and
cut off with a 413 as soon as it passes the limit. A JSON body is held by this middleware
(never more than the limit) and handed to the app only once it is known to fit; an upload
streams through, and its route discards the spooled part when the limit stops it, so nothing
reaches the store.

The limits come from ``loopml server --max-body-mb / --max-blob-mb``, else from
``LOOPML_SERVER_MAX_BODY_MB`` / ``LOOPML_SERVER_MAX_BLOB_MB``, else the defaults below.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from loopml.core.errors import ConfigError, PayloadTooLargeError
from loopml.server.errors import error_response

MiB = 1 << 20
DEFAULT_MAX_BODY_MB = 32
DEFAULT_MAX_BLOB_MB = 10 * 1024
ENV_MAX_BODY_MB = "LOOPML_SERVER_MAX_BODY_MB"
ENV_MAX_BLOB_MB = "LOOPML_SERVER_MAX_BLOB_MB"


@dataclass(frozen=True)
class RequestLimits:
    max_body_bytes: int = DEFAULT_MAX_BODY_MB * MiB
    max_blob_bytes: int = DEFAULT_MAX_BLOB_MB * MiB

    @classmethod
    def resolve(
        cls,
        max_body_mb: float | None = None,
        max_blob_mb: float | None = None,
        env: Mapping[str, str] | None = None,
    ) -> RequestLimits:
        """Limits from the arguments, else the environment, else the defaults."""
        env = os.environ if env is None else env
        body = _megabytes("--max-body-mb", max_body_mb, env, ENV_MAX_BODY_MB, DEFAULT_MAX_BODY_MB)
        blob = _megabytes("--max-blob-mb", max_blob_mb, env, ENV_MAX_BLOB_MB, DEFAULT_MAX_BLOB_MB)
        return cls(max_body_bytes=body, max_blob_bytes=blob)


def _megabytes(
    option: str, value: float | None, env: Mapping[str, str], name: str, default: int
) -> int:
    where = option
    if value is None and env.get(name):
        where = name
        try:
            value = float(env[name])
        except ValueError:
            raise ConfigError(f"{name} must be a number of MiB, got {env[name]!r}.") from None
    if value is None:
        value = default
    if not value > 0:
        raise ConfigError(f"{where} must be a positive number of MiB, got {value}.")
    return int(value * MiB)


def describe(size: int) -> str:
    return f"{size / MiB:g} MiB" if size >= MiB else f"{size} bytes"


def too_large(what: str, limit: int, option: str) -> PayloadTooLargeError:
    return PayloadTooLargeError(
        f"The {what} is larger than this server accepts ({describe(limit)}). "
        f"Send less, or start the server with a higher {option}."
    )


class RequestSizeLimit:
    """ASGI middleware applying :class:`RequestLimits` (see the module docstring)."""

    def __init__(self, app: ASGIApp, *, limits: RequestLimits, blob_path: str) -> None:
        self.app = app
        self.limits = limits
        self.blob_path = blob_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        upload = scope["method"] == "PUT" and scope["path"] == self.blob_path
        limit = self.limits.max_blob_bytes if upload else self.limits.max_body_bytes
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _refuse(self._too_large(upload), scope, receive, send)
            return
        if upload:
            await self._stream_upload(scope, receive, send, limit, self._too_large(upload))
            return
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            if size > limit:
                await _refuse(self._too_large(upload), scope, receive, send)
                return
            if not message.get("more_body", False):
                break
        await self.app(scope, _replay(messages, receive), send)

    def _too_large(self, upload: bool) -> PayloadTooLargeError:
        """The error of a body over the limit (built only for a request refused)."""
        if upload:
            return too_large("upload", self.limits.max_blob_bytes, "--max-blob-mb")
        return too_large("request body", self.limits.max_body_bytes, "--max-body-mb")

    async def _stream_upload(
        self, scope: Scope, receive: Receive, send: Send, limit: int, error: PayloadTooLargeError
    ) -> None:
        """The upload streams to its route; past the limit, reading it raises ``error`` (the
        route's error handler answers 413) and the connection closes after that answer."""
        size = 0

        async def counted() -> Message:
            nonlocal size
            message = await receive()
            if message["type"] == "http.request":
                size += len(message.get("body", b""))
                if size > limit:
                    raise error
            return message

        async def closing(message: Message) -> None:
            if message["type"] == "http.response.start" and size > limit:
                headers = [*message.get("headers", []), (b"connection", b"close")]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, counted, closing)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the HTTP server refuses a malformed one before we get here
    return None


async def _refuse(error: PayloadTooLargeError, scope: Scope, receive: Receive, send: Send) -> None:
    # the rest of the body is never read: the connection is closed after the answer
    response = error_response(
        error.http_status, error.code, error.message, headers={"Connection": "close"}
    )
    await response(scope, receive, send)


def _replay(messages: list[Message], receive: Receive) -> Receive:
    pending = iter(messages)

    async def replayed() -> Message:
        return next(pending, None) or await receive()

    return replayed
