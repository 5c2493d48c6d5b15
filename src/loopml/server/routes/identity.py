"""Users, their roles per project and their API tokens: every route needs ``users:admin``.
A token's secret is in the answer that creates it and nowhere else (never in the event log)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response

from loopml.core.errors import ConfigError
from loopml.core.identity_records import check_role
from loopml.server.audit import attributed
from loopml.server.auth import Principal, require
from loopml.server.context import Context, ServerContext
from loopml.server.identity_schemas import (
    IdentityOut,
    IssuedTokenOut,
    RoleBindingOut,
    RoleGrant,
    RoleList,
    TokenCheck,
    TokenCreate,
    TokenList,
    TokenOut,
    UserCreate,
    UserList,
    UserOut,
)
from loopml.stores.identity.base import IdentityStore

router = APIRouter(tags=["identity"])
Admin = Annotated[Principal, Depends(require("users:admin"))]
ADMIN = [Depends(require("users:admin"))]


def _identity(ctx: ServerContext) -> IdentityStore:
    if ctx.identity_store is None:
        raise ConfigError(
            "This server was started without an identity store (users, tokens); start it "
            "with 'loopml server'."
        )
    return ctx.identity_store


@router.get("/users", dependencies=ADMIN)
def list_users(ctx: Context) -> UserList:
    return UserList(users=[UserOut.of(user) for user in _identity(ctx).list_users()])


@router.post("/users", status_code=201)
def add_user(body: UserCreate, ctx: Context, principal: Admin) -> UserOut:
    role = None if body.role is None else check_role(body.role)
    user = _identity(ctx).add_user(
        body.name, role=role, project=body.project, event=attributed(principal)
    )
    return UserOut.of(user)


@router.get("/users/{name}", dependencies=ADMIN)
def get_user(name: str, ctx: Context) -> UserOut:
    return UserOut.of(_identity(ctx).get_user(name))


@router.post("/users/{name}/disable")
def disable_user(name: str, ctx: Context, principal: Admin) -> UserOut:
    user = _identity(ctx).disable_user(name, event=attributed(principal))
    return UserOut.of(user)


@router.get("/roles", dependencies=ADMIN)
def list_roles(ctx: Context, user: str | None = None) -> RoleList:
    bindings = _identity(ctx).list_roles(user)
    return RoleList(roles=[RoleBindingOut.of(binding) for binding in bindings])


@router.put("/users/{name}/roles/{project}")
def grant_role(
    name: str, project: str, body: RoleGrant, ctx: Context, principal: Admin
) -> RoleBindingOut:
    role = check_role(body.role)
    binding = _identity(ctx).grant_role(name, project, role, event=attributed(principal))
    return RoleBindingOut.of(binding)


@router.delete("/users/{name}/roles/{project}", status_code=204)
def revoke_role(name: str, project: str, ctx: Context, principal: Admin) -> Response:
    _identity(ctx).revoke_role(name, project, event=attributed(principal))
    return Response(status_code=204)


@router.post("/tokens", status_code=201)
def create_token(body: TokenCreate, ctx: Context, principal: Admin) -> IssuedTokenOut:
    issued = _identity(ctx).create_token(
        body.user,
        label=body.label,
        expires_in_ms=body.expires_in_ms,
        event=attributed(principal),
    )
    return IssuedTokenOut(token=TokenOut.of(issued.info), secret=issued.secret)


@router.get("/tokens", dependencies=ADMIN)
def list_tokens(ctx: Context, user: str | None = None) -> TokenList:
    return TokenList(tokens=[TokenOut.of(info) for info in _identity(ctx).list_tokens(user)])


@router.post("/tokens/{token_id}/revoke")
def revoke_token(token_id: str, ctx: Context, principal: Admin) -> TokenOut:
    info = _identity(ctx).revoke_token(token_id, event=attributed(principal))
    return TokenOut.of(info)


@router.post("/tokens/authenticate", dependencies=ADMIN)
def authenticate_token(body: TokenCheck, ctx: Context) -> IdentityOut:
    """Who ``token`` belongs to (401 if it is refused): what the server's own check sees."""
    return IdentityOut.of(_identity(ctx).authenticate(body.token))
