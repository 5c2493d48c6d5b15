"""Pydantic models of the identity routes (users, roles, tokens); strict requests that refuse
unknown fields. A token's secret appears in one answer only: the one that creates it."""

from __future__ import annotations

from loopml.core.identity_records import Identity, RoleBinding, TokenInfo, User
from loopml.core.roles import DEFAULT_PROJECT, Role
from loopml.server.schema_base import RequestModel, ResponseModel


class UserCreate(RequestModel):
    name: str
    role: str | None = None  # granted in ``project`` in the same transaction
    project: str = DEFAULT_PROJECT


class UserOut(ResponseModel):
    name: str
    created_at: int
    disabled_at: int | None = None

    @classmethod
    def of(cls, user: User) -> UserOut:
        return cls(name=user.name, created_at=user.created_at, disabled_at=user.disabled_at)


class UserList(ResponseModel):
    users: list[UserOut]


class RoleGrant(RequestModel):
    role: str


class RoleBindingOut(ResponseModel):
    user: str
    project: str
    role: Role

    @classmethod
    def of(cls, binding: RoleBinding) -> RoleBindingOut:
        return cls(user=binding.user, project=binding.project, role=binding.role)


class RoleList(ResponseModel):
    roles: list[RoleBindingOut]


class TokenCreate(RequestModel):
    user: str
    label: str = ""
    expires_in_ms: int | None = None


class TokenOut(ResponseModel):
    id: str
    user: str
    label: str
    created_at: int
    expires_at: int | None = None
    revoked_at: int | None = None
    last_used_at: int | None = None

    @classmethod
    def of(cls, info: TokenInfo) -> TokenOut:
        return cls(
            id=info.id,
            user=info.user,
            label=info.label,
            created_at=info.created_at,
            expires_at=info.expires_at,
            revoked_at=info.revoked_at,
            last_used_at=info.last_used_at,
        )


class IssuedTokenOut(ResponseModel):
    token: TokenOut
    secret: str  # shown this once


class TokenList(ResponseModel):
    tokens: list[TokenOut]


class TokenCheck(RequestModel):
    token: str


class IdentityOut(ResponseModel):
    user: str
    token_id: str
    roles: list[RoleBindingOut]
    expires_at: int | None = None

    @classmethod
    def of(cls, identity: Identity) -> IdentityOut:
        return cls(
            user=identity.user,
            token_id=identity.token_id,
            roles=[RoleBindingOut.of(b) for b in identity.bindings],
            expires_at=identity.expires_at,
        )
