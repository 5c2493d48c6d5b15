"""Request ids: every request to the server is named, and the name is recorded with the audit
events it causes (``Event.request_id``) and sent back in the ``X-Request-ID`` header.

A client may name its request (a well-formed ``X-Request-ID``: up to 64 letters, digits,
``.``, ``_``, ``:``, ``-``) to find it in the audit log later; otherwise the server names it.
The id only correlates: who made the change is the authenticated principal, never a header.
"""

from __future__ import annotations

import re
from contextvars import ContextVar

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from loopml.core.ids import new_id

HEADER = "x-request-id"
_WELL_FORMED = re.compile(rb"[A-Za-z0-9._:-]{1,64}")
_current: ContextVar[str] = ContextVar("loopml_request_id", default="")


def current_request_id() -> str:
    """The id of the request being served ("" outside a request)."""
    return _current.get()


class RequestIds:
    """ASGI middleware: names the request before any route runs (so the route's threadpool
    call, which copies the context, sees it) and echoes the name in the answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = next((v for k, v in scope["headers"] if k == HEADER.encode()), b"")
        request_id = given.decode() if _WELL_FORMED.fullmatch(given) else new_id()
        token = _current.set(request_id)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", []), (HEADER.encode(), request_id.encode())]
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            _current.reset(token)
