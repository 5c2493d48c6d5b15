"""The model server's token: with one configured (``--token-file``, ``LOOPML_SERVE_TOKEN_FILE``
or ``LOOPML_SERVE_TOKEN``), every request but the probes and metrics must send
``Authorization: Bearer <token>``, else 401 in the protocol's error shape.

Open without a token: ``/health``, ``/ping``, ``/v2/health/live``, ``/v2/health/ready`` (load
balancers and Kubernetes probes carry no credentials; they say whether the server is up, not
what it serves) and ``/metrics`` (Prometheus scrapes it; counts, no inputs or outputs).
Everything else — predictions, feedback, explanations, metadata, the OpenAPI document and any
route added later — is closed by default. The token is compared in constant time and never
logged. Without a token nothing is checked (one attribute test per request), and a server
bound beyond loopback without one refuses to start unless told ``--allow-anonymous``.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import re
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

from loopml.core.errors import ConfigError
from loopml.serving.errors import ERROR_CODE_HEADER, error_body
from loopml.serving.routes import json_body

__all__ = [
    "ENV_ALLOW_ANONYMOUS",
    "ENV_TOKEN",
    "ENV_TOKEN_FILE",
    "OPEN_PATHS",
    "BearerCheck",
    "check_exposure",
    "read_token",
]

ENV_TOKEN = "LOOPML_SERVE_TOKEN"
ENV_TOKEN_FILE = "LOOPML_SERVE_TOKEN_FILE"
ENV_ALLOW_ANONYMOUS = "LOOPML_SERVE_ALLOW_ANONYMOUS"
OPEN_PATHS = frozenset({"/health", "/ping", "/metrics", "/v2/health/live", "/v2/health/ready"})
MIN_TOKEN_LENGTH = 16
_TOKEN = re.compile(r"[\x21-\x7e]+")  # visible ASCII: what a header value can carry as is
_CODE = "unauthenticated"

Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


def read_token(token_file: str | Path | None = None) -> str | None:
    """The configured token: ``token_file``, else the file ``LOOPML_SERVE_TOKEN_FILE`` names,
    else ``LOOPML_SERVE_TOKEN``; None when none is set. Surrounding whitespace is dropped."""
    named = token_file or os.environ.get(ENV_TOKEN_FILE) or None
    if named is not None:
        where = f"the token file {named}"
        try:
            token = Path(named).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"Cannot read {where}: {exc}.") from exc
    else:
        where = ENV_TOKEN
        token = os.environ.get(ENV_TOKEN, "").strip()
        if not token:
            return None
    if len(token) < MIN_TOKEN_LENGTH or not _TOKEN.fullmatch(token):
        raise ConfigError(
            f"The model server's token in {where} must be at least {MIN_TOKEN_LENGTH} visible "
            "ASCII characters without spaces (e.g. python -c 'import secrets; "
            "print(secrets.token_urlsafe(32))')."
        )
    return token


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_exposure(host: str, token: str | None, *, allow_anonymous: bool) -> None:
    """Refuse (exit code 2) to serve beyond loopback without a token unless told to."""
    allowed = allow_anonymous or os.environ.get(ENV_ALLOW_ANONYMOUS, "") in ("1", "true")
    if token is None and not allowed and not is_loopback(host):
        raise ConfigError(
            f"Not serving on {host} without a token: anyone who reaches it could use the "
            "model. Give one with --token-file FILE (or LOOPML_SERVE_TOKEN_FILE / "
            f"{ENV_TOKEN}); or pass --allow-anonymous ({ENV_ALLOW_ANONYMOUS}=1) when something "
            "in front of the server checks callers."
        )


class BearerCheck:
    """Answers 401 to a request for a closed path without the right bearer token."""

    def __init__(self, token: str) -> None:
        self._token = token.encode("ascii")

    def allows(self, scope: MutableMapping[str, Any]) -> bool:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            return True
        sent = _authorization(scope)
        if sent is None:
            return False
        scheme, _, credential = sent.partition(b" ")
        # constant-time, also when the lengths differ (compare_digest's own guarantee)
        return scheme.lower() == b"bearer" and hmac.compare_digest(credential.strip(), self._token)

    async def refuse(self, scope: MutableMapping[str, Any], send: Send) -> None:
        path: str = scope["path"]
        if _authorization(scope) is None:
            message = (
                "This model server needs a token: send 'Authorization: Bearer <token>' with "
                "the token it was started with."
            )
        else:
            message = "The bearer token sent is not this model server's token."
        body = json_body(error_body(path, 401, _CODE, message))
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"www-authenticate", b'Bearer realm="loopml"'),
            (ERROR_CODE_HEADER.encode(), _CODE.encode()),
        ]
        await send({"type": "http.response.start", "status": 401, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _authorization(scope: MutableMapping[str, Any]) -> bytes | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            return bytes(value)
    return None
