"""Who is calling and what they may do: the one authorization seam of the server.

Every route is guarded by :func:`authorize` (a router-level dependency set in ``create_app``),
and every route declares the permission it needs with ``Depends(require("runs:write"))`` (or,
for liveness only, ``Depends(anyone)``); a test walks the OpenAPI document to hold that.

With auth off (the default, for a server on loopback) every caller is :data:`ANONYMOUS` and
may do everything. With auth on (``loopml server --auth``, ``LOOPML_AUTH=1``) the
``Authorization: Bearer`` token is resolved to its user and their roles in the server's
project (:class:`TokenAuthenticator`); no token, or a refused one, is a 401; a permission the
user's roles do not grant is a 403. A browser signed in at ``/ui/login`` sends the token in
the dashboard's session cookie instead (read only when no Bearer header is sent); such a
request with an unsafe method must carry the session's CSRF value (``X-LoopML-CSRF``, or a
``csrf`` form field), or it is a 403 (see :mod:`loopml.dashboard.session`). Lookups are
cached for a few seconds, so a revoked token or a changed role takes effect within
``LOOPML_AUTH_CACHE_SECONDS`` (5 by default).
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from loopml.core.errors import ConfigError, PermissionDeniedError, UnauthenticatedError
from loopml.core.ids import now_ms
from loopml.core.roles import DEFAULT_PROJECT, Permission, Role, permissions_of
from loopml.dashboard.session import (
    CSRF_FIELD,
    CSRF_HEADER,
    SAFE_METHODS,
    SESSION_COOKIE,
    csrf_matches,
    csrf_value,
    form_field,
)
from loopml.stores.identity.base import IdentityStore

__all__ = ["ANONYMOUS", "Permission", "Principal", "TokenAuthenticator", "authorize", "require"]

ENV_AUTH = "LOOPML_AUTH"
ENV_PROJECT = "LOOPML_PROJECT"
ENV_AUTH_CACHE_SECONDS = "LOOPML_AUTH_CACHE_SECONDS"
DEFAULT_CACHE_SECONDS = 5.0
MAX_CACHED_TOKENS = 10_000
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("", "0", "false", "no", "off")
MAX_CSRF_FORM_BYTES = 64 * 1024  # a form that carries the CSRF field is a small one

_bearer = HTTPBearer(
    auto_error=False,
    description="An API token (loopml tokens create); needed when the server runs with --auth.",
)


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller of one request, as recorded in the event log (``name`` is the actor).
    ``permissions`` None means every permission (a server with auth off)."""

    name: str
    authenticated: bool = False
    roles: tuple[Role, ...] = ()
    permissions: frozenset[Permission] | None = None

    def allows(self, permission: Permission) -> bool:
        """Whether this principal holds ``permission``."""
        return self.permissions is None or permission in self.permissions


ANONYMOUS = Principal(name="anonymous")
# a caller without a token on a server with auth on: only the open routes answer it
NO_TOKEN = Principal(name="anonymous", permissions=frozenset())


def auth_enabled(env: Mapping[str, str]) -> bool:
    """``LOOPML_AUTH`` read as a switch; ConfigError naming the variable for anything else."""
    value = env.get(ENV_AUTH, "").strip().lower()
    if value in _TRUE or value in _FALSE:
        return value in _TRUE
    raise ConfigError(f"{ENV_AUTH} must be 1 or 0 (true/false, yes/no, on/off), got {value!r:.20}.")


def cache_seconds(env: Mapping[str, str]) -> float:
    text = env.get(ENV_AUTH_CACHE_SECONDS, "").strip()
    try:
        seconds = float(text) if text else DEFAULT_CACHE_SECONDS
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds <= 300:
        raise ConfigError(f"{ENV_AUTH_CACHE_SECONDS} must be a number of seconds from 0 to 300.")
    return seconds


class TokenAuthenticator:
    """Resolves API tokens to principals in ``project``, remembering each answer for
    ``cache_seconds`` (never past the token's expiry), so the store is read once per token
    every few seconds, not once per request. Refusals are not remembered."""

    def __init__(
        self,
        store: IdentityStore,
        *,
        project: str = DEFAULT_PROJECT,
        cache_seconds: float = DEFAULT_CACHE_SECONDS,
    ) -> None:
        self.store, self.project, self._ttl = store, project, cache_seconds
        self._lock = threading.Lock()
        # sha256 of the token -> (principal, valid until on the monotonic clock)
        self._cache: dict[bytes, tuple[Principal, float]] = {}

    def cached(self, token: str) -> Principal | None:
        """The principal remembered for ``token``, None if none is (or it is stale)."""
        found = self._cache.get(_key(token))
        if found is None or found[1] <= time.monotonic():
            return None
        return found[0]

    def resolve(self, token: str) -> Principal:
        """Look ``token`` up in the store (blocking); UnauthenticatedError if it is refused."""
        identity = self.store.authenticate(token)
        roles = tuple(sorted(identity.roles_in(self.project)))
        principal = Principal(identity.user, True, roles, permissions_of(roles))
        ttl = self._ttl
        if identity.expires_at is not None:
            ttl = min(ttl, (identity.expires_at - now_ms()) / 1000)
        if ttl > 0:
            with self._lock:
                if len(self._cache) >= MAX_CACHED_TOKENS:
                    self._cache = {}
                self._cache[_key(token)] = (principal, time.monotonic() + ttl)
        return principal


def _key(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


async def authorize(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The principal behind the request's ``Authorization: Bearer`` token, or else its
    dashboard session cookie (never logged): :data:`ANONYMOUS` when auth is off; a cached
    principal, or one looked up in the store (in the threadpool), when it is on. A refused
    Bearer token is a 401 here, on any route; a refused cookie is no credential (the pages
    send the browser to sign in again); a cookie without its CSRF value on an unsafe
    method is a 403."""
    principal = await _principal(request, credentials)
    request.state.principal = principal  # the dashboard's pages show what it may do
    return principal


async def _principal(
    request: Request, credentials: HTTPAuthorizationCredentials | None
) -> Principal:
    authenticator: TokenAuthenticator | None = getattr(request.app.state, "authenticator", None)
    if authenticator is None:
        return ANONYMOUS
    if credentials is not None:
        return await _resolved(authenticator, credentials.credentials)
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return NO_TOKEN
    try:
        principal = await _resolved(authenticator, token)
    except UnauthenticatedError:
        return NO_TOKEN  # a revoked or expired token: signed out
    if request.method not in SAFE_METHODS and not csrf_matches(token, await _csrf_sent(request)):
        raise PermissionDeniedError(
            f"This {request.method} request is signed in by the dashboard's cookie but lacks "
            f"its CSRF value (the {CSRF_HEADER} header, or the {CSRF_FIELD!r} form field, "
            "that the dashboard's pages send): reload the page and try again."
        )
    request.state.csrf = csrf_value(token)  # for the page to send back
    return principal


async def _resolved(authenticator: TokenAuthenticator, token: str) -> Principal:
    principal = authenticator.cached(token)
    if principal is None:
        principal = await run_in_threadpool(authenticator.resolve, token)
    return principal


async def _csrf_sent(request: Request) -> str | None:
    """The CSRF value the request carries: its header, else a plain form's field (the body
    is kept by the request for the route to read again)."""
    sent = request.headers.get(CSRF_HEADER)
    if sent is not None:
        return sent
    content_type = request.headers.get("content-type", "")
    length = request.headers.get("content-length", "")
    if not content_type.startswith("application/x-www-form-urlencoded"):
        return None
    if not length.isdigit() or int(length) > MAX_CSRF_FORM_BYTES:
        return None
    return form_field(await request.body(), CSRF_FIELD)


def require(permission: Permission) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency that yields the authorized principal if it holds ``permission``."""

    async def dependency(principal: Annotated[Principal, Depends(authorize)]) -> Principal:
        if not principal.allows(permission):
            if not principal.authenticated:
                raise UnauthenticatedError(
                    "This server needs an API token: send 'Authorization: Bearer <token>' "
                    "(set LOOPML_TOKEN; an admin makes one with 'loopml tokens create')."
                )
            raise PermissionDeniedError(
                f"{principal.name} lacks the permission {permission!r} this request needs; "
                "ask an admin for a role that grants it."
            )
        return principal

    dependency.__name__ = f"require_{permission.replace(':', '_')}"
    dependency.permission = permission  # type: ignore[attr-defined]  # read by the route test
    return dependency


def token_check(authenticator: TokenAuthenticator) -> Callable[[str], Awaitable[str]]:
    """The dashboard's sign-in check: the name of the user ``token`` belongs to (looked up
    in the threadpool); UnauthenticatedError if the token is refused."""

    async def check(token: str) -> str:
        principal = await run_in_threadpool(authenticator.resolve, token)
        return principal.name

    return check


async def anyone(principal: Annotated[Principal, Depends(authorize)]) -> Principal:
    """The guard of the few routes open to every caller, token or not (liveness)."""
    return principal
