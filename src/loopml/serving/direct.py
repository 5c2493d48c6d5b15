"""The prediction endpoints answered straight from ASGI: ``POST /invocations`` and
``POST /v2/models/{name}[/versions/{version}]/infer``.

They are the server's hot path, and for a one-row request Starlette's routing, middleware,
``Request`` and ``Response`` cost more than parsing and predicting. :class:`DirectPredictions`
answers them with the same bodies, headers, errors, metrics and prediction log as the routes
in ``routes.py`` (which stay, for the OpenAPI document and as the one definition of each
answer); every other request goes on to the FastAPI app.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import Any

from loopml.serving.errors import error_answer
from loopml.serving.oip_binary import HEADER_LENGTH
from loopml.serving.routes import (
    REQUEST_ID_HEADER,
    VERSION_HEADER,
    ServingState,
    infer_answer,
    infer_body,
    invocation_answer,
    json_body,
    read_chunks,
    usable_request_id,
)

__all__ = ["DirectPredictions", "Route"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Route = tuple[str, str | None, str | None]  # endpoint (as the metrics name it), name, version

INVOCATIONS = "/invocations"
INFER = "/v2/models/{name}/infer"
VERSION_INFER = "/v2/models/{name}/versions/{version}/infer"
_JSON = (b"content-type", b"application/json")


class ClientDisconnectedError(Exception):
    """The client went away before it had sent the whole body."""


class DirectPredictions:
    """Answers the prediction endpoints of the app whose state is ``state``."""

    def __init__(self, state: ServingState) -> None:
        self.state = state

    def route(self, scope: Scope) -> Route | None:
        """What a request this answers asks for, else None."""
        if scope["type"] != "http" or scope["method"] != "POST":
            return None
        path: str = scope["path"]
        if path == INVOCATIONS:
            return INVOCATIONS, None, None
        if not path.startswith("/v2/models/") or not path.endswith("/infer"):
            return None
        parts = path.split("/")  # "", "v2", "models", name, ["versions", version,] "infer"
        if len(parts) == 5 and parts[3]:
            return INFER, parts[3], None
        if len(parts) == 7 and parts[3] and parts[4] == "versions" and parts[5]:
            return VERSION_INFER, parts[3], parts[5]
        return None

    async def answer(self, scope: Scope, receive: Receive, send: Send, route: Route) -> None:
        """Answer one request, and count it as the metrics middleware counts the others."""
        started = time.perf_counter()
        endpoint, name, version = route
        status, label, rid = 500, "", None
        try:
            headers: dict[bytes, bytes] = dict(reversed(scope["headers"]))  # the first wins
            rid = usable_request_id(_text(headers.get(REQUEST_ID_HEADER.encode())))
            content_type = _text(headers.get(b"content-type"))
            declared = _text(headers.get(b"content-length")) or ""
            limit = self.state.options.max_body_bytes
            encoding = _text(headers.get(b"content-encoding"))

            def read() -> Awaitable[bytes]:
                return read_chunks(_chunks(receive), declared, limit, content_encoding=encoding)

            extra: dict[str, str] = {}
            if name is None:
                model, content = await invocation_answer(
                    self.state, read, content_type, rid, started
                )
                body = json_body(content)
            else:
                model, content, binary = await infer_answer(
                    self.state,
                    name,
                    version,
                    read,
                    content_type,
                    rid,
                    started,
                    binary_header=_text(headers.get(HEADER_LENGTH.encode())),
                )
                body, extra = infer_body(content, binary=binary)
        except ClientDisconnectedError:
            status = 499  # nobody to answer; counted as nginx does
            return
        except Exception as exc:
            status, error, extra = error_answer(scope["method"], scope["path"], exc)
            await _respond(send, status, json_body(error), rid, None, extra)
        else:
            status, label = 200, model.label
            await _respond(send, 200, body, rid, label, extra)
        finally:
            seconds = time.perf_counter() - started
            self.state.metrics.observe_request(endpoint, status, label, seconds)


def _text(value: bytes | None) -> str | None:
    return value.decode("latin-1") if value is not None else None


async def _respond(
    send: Send,
    status: int,
    body: bytes,
    rid: str | None,
    label: str | None,
    extra: dict[str, str] | None = None,
) -> None:
    extra = extra or {}
    headers = [(b"content-length", str(len(body)).encode())]
    if "content-type" not in extra:
        headers.append(_JSON)
    headers.extend((k.encode("latin-1"), v.encode("latin-1")) for k, v in (extra or {}).items())
    if rid:
        headers.append((REQUEST_ID_HEADER.encode(), rid.encode("latin-1")))
    if label:
        headers.append((VERSION_HEADER.encode(), label.encode("latin-1")))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _chunks(receive: Receive) -> AsyncIterator[bytes]:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnectedError("The client disconnected before sending the body.")
        chunk = message.get("body", b"")
        if chunk:
            yield chunk
        if not message.get("more_body", False):
            return
