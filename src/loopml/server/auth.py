"""Who is calling and what they may do: the one authorization seam of the server.

Every route is guarded by :func:`authorize` (a router-level dependency set in ``create_app``),
and every route declares the permission it needs with ``Depends(require("runs:write"))``.
Today every caller is the anonymous principal and may do everything; users, tokens and roles
plug in here, in :func:`authorize` and :meth:`Principal.allows`, without touching any route.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from loopml.core.errors import PermissionDeniedError

Permission = Literal[
    "experiments:read",
    "experiments:write",
    "runs:read",
    "runs:write",
    "artifacts:read",
    "artifacts:write",
    "datasets:read",
    "datasets:write",
    "models:read",
    "models:write",
    "models:approve",
    "models:promote",  # move or remove an alias (protected ones: under the promotion policy)
    "events:read",
    "events:write",
    "deployments:read",
    "deployments:write",
    "leases:read",
    "leases:write",
    "decisions:read",
    "decisions:write",
    "metrics:read",
]

_bearer = HTTPBearer(
    auto_error=False,
    description="An API token (loopml tokens create); optional while the server allows all.",
)


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller of one request, as recorded in the event log (``name`` is the actor)."""

    name: str
    authenticated: bool = False

    def allows(self, permission: Permission) -> bool:
        """Whether this principal holds ``permission``: everyone may do everything for now."""
        return True


ANONYMOUS = Principal(name="anonymous")


async def authorize(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The principal behind the request's ``Authorization: Bearer`` token (never logged).

    No token store exists yet, so a presented token is not checked and every caller is
    :data:`ANONYMOUS`; resolving tokens to users (and 401 for bad ones) belongs here. It runs
    on the event loop: once it looks tokens up in a store, make it a plain ``def`` so FastAPI
    runs it in the threadpool instead.
    """
    del credentials  # read so that the seam is in place; resolved once tokens exist
    return ANONYMOUS


def require(permission: Permission) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency that yields the authorized principal if it holds ``permission``."""

    async def dependency(principal: Annotated[Principal, Depends(authorize)]) -> Principal:
        if not principal.allows(permission):
            raise PermissionDeniedError(
                f"{principal.name} lacks the permission {permission!r} this request needs; "
                "ask an admin for a role that grants it."
            )
        return principal

    dependency.__name__ = f"require_{permission.replace(':', '_')}"
    return dependency
