"""The :class:`IdentityStore` protocol: users, API tokens and role bindings, as the fewest
primitives. Every time is the store's clock (a token's expiry, its last use).

Backends: :class:`~loopml.stores.identity.sql.SqlIdentityStore` (SQLite, PostgreSQL) and
:class:`~loopml.stores.remote.identity.HttpIdentityStore` (``loopml server``; every call
needs the ``users:admin`` permission when the server has auth on).

Every change appends its audit event (``event``: the caller's actor and request id; None:
``local:<os user>``) in the change's own transaction, as the metadata store's writes do; a
call that changes nothing (disabling a disabled user) records nothing.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from loopml.core.identity_records import Identity, IssuedToken, RoleBinding, TokenInfo, User
from loopml.core.roles import DEFAULT_PROJECT, Role
from loopml.stores.metadata.base import NewEvent


@runtime_checkable
class IdentityStore(Protocol):
    def close(self) -> None: ...

    # users -------------------------------------------------------------------------------
    def add_user(
        self,
        name: str,
        *,
        role: Role | None = None,
        project: str = DEFAULT_PROJECT,
        event: NewEvent | None = None,
    ) -> User:
        """A new user (holding ``role`` in ``project``, in the same transaction);
        ConflictError if ``name`` is taken (by a disabled user too)."""
        ...

    def get_user(self, name: str) -> User:
        """NotFoundError for a name no user has."""
        ...

    def list_users(self) -> list[User]:
        """Every user, by name."""
        ...

    def disable_user(self, name: str, *, event: NewEvent | None = None) -> User:
        """The user's tokens stop working; disabling a disabled user returns it unchanged."""
        ...

    # roles -------------------------------------------------------------------------------
    def grant_role(
        self, user: str, project: str, role: Role, *, event: NewEvent | None = None
    ) -> RoleBinding:
        """``user`` holds ``role`` in ``project`` (``*``: every project), replacing the role
        they held there."""
        ...

    def revoke_role(self, user: str, project: str, *, event: NewEvent | None = None) -> None:
        """``user`` holds no role in ``project`` any more (a no-op if they held none)."""
        ...

    def list_roles(self, user: str | None = None) -> list[RoleBinding]:
        """The role bindings of ``user`` (None: everyone's), by user and project."""
        ...

    # tokens ------------------------------------------------------------------------------
    def create_token(
        self,
        user: str,
        *,
        label: str = "",
        expires_in_ms: int | None = None,
        event: NewEvent | None = None,
    ) -> IssuedToken:
        """A new token for ``user`` (an enabled one), expiring ``expires_in_ms`` from now
        (None: never). Its secret is in the answer only: the store keeps a salted hash."""
        ...

    def list_tokens(self, user: str | None = None) -> list[TokenInfo]:
        """The tokens of ``user`` (None: everyone's), newest first, revoked ones included."""
        ...

    def revoke_token(self, token_id: str, *, event: NewEvent | None = None) -> TokenInfo:
        """The token stops working; revoking a revoked token returns it unchanged."""
        ...

    def authenticate(self, token: str) -> Identity:
        """Who ``token`` belongs to and their roles; UnauthenticatedError if it is malformed,
        unknown, wrong, expired, revoked or its user disabled. Records its last use."""
        ...
