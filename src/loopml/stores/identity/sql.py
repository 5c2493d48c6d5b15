"""The identity store on SQLite or PostgreSQL, on the metadata store's database and migration
chain (tables ``users``, ``api_tokens`` and ``role_bindings``, revision 0011).

Authenticating is one indexed read by token id (the id is part of the token's text), a
constant-time compare of the secret's salted hash, and a write of the token's last use at
most once a minute (:data:`~loopml.core.identity_records.LAST_USED_PRECISION_MS`).
"""

from __future__ import annotations

import functools

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from loopml.core.errors import ConflictError, NotFoundError
from loopml.core.identity_records import (
    LAST_USED_PRECISION_MS,
    Identity,
    IssuedToken,
    RoleBinding,
    TokenInfo,
    User,
    check_expires_in_ms,
    check_label,
    check_project,
    check_role,
    check_token_id,
    check_user_name,
    hash_secret,
    new_salt,
    new_token,
    parse_token,
    secret_matches,
    token_refused,
)
from loopml.core.ids import now_ms
from loopml.core.roles import DEFAULT_PROJECT, Role
from loopml.stores.metadata.base import NewEvent
from loopml.stores.metadata.sql.connections import SqlStoreBase
from loopml.stores.metadata.sql.dialects import insert_for
from loopml.stores.metadata.sql.event_store import audited, insert_event
from loopml.stores.metadata.sql.schema import api_tokens, role_bindings, users


class SqlIdentityStore(SqlStoreBase):
    """:class:`~loopml.stores.identity.base.IdentityStore` on ``sqlite:///…`` or
    ``postgresql+psycopg://…``; opening it migrates the database like the metadata store."""

    def __init__(self, uri: str) -> None:
        super().__init__(uri)
        self._insert = functools.partial(insert_for, self._engine.dialect.name)

    def __repr__(self) -> str:
        return f"SqlIdentityStore({self._masked_uri!r})"

    # users -------------------------------------------------------------------------------

    def add_user(
        self,
        name: str,
        *,
        role: Role | None = None,
        project: str = DEFAULT_PROJECT,
        event: NewEvent | None = None,
    ) -> User:
        name, project = check_user_name(name), check_project(project)
        role = None if role is None else check_role(role)
        with self._write() as conn:
            added = conn.execute(
                self._insert(users)
                .values(name=name, created_at=now_ms(), disabled_at=None)
                .on_conflict_do_nothing(index_elements=["name"])
                .returning(users.c.name)
            ).first()
            if added is None:
                raise ConflictError(f"A user named {name!r} exists already.")
            user = _user(_existing_user(conn, name))
            insert_event(conn, audited(event, "user.add", f"user:{name}", {}))
            if role is not None:
                self._bind(conn, name, project, role, event)
            return user

    def get_user(self, name: str) -> User:
        name = check_user_name(name)
        with self._read() as conn:
            return _user(_existing_user(conn, name))

    def list_users(self) -> list[User]:
        with self._read() as conn:
            rows = conn.execute(sa.select(users).order_by(users.c.name)).all()
        return [_user(row) for row in rows]

    def disable_user(self, name: str, *, event: NewEvent | None = None) -> User:
        name = check_user_name(name)
        with self._write() as conn:
            row = _existing_user(conn, name)
            if row.disabled_at is None:
                conn.execute(
                    sa.update(users).where(users.c.name == name).values(disabled_at=now_ms())
                )
                row = _existing_user(conn, name)
                insert_event(conn, audited(event, "user.disable", f"user:{name}", {}))
            return _user(row)

    # roles -------------------------------------------------------------------------------

    def grant_role(
        self, user: str, project: str, role: Role, *, event: NewEvent | None = None
    ) -> RoleBinding:
        user, project, role = check_user_name(user), check_project(project), check_role(role)
        with self._write() as conn:
            _existing_user(conn, user)
            self._bind(conn, user, project, role, event)
        return RoleBinding(user, project, role)

    def _bind(
        self, conn: Connection, user: str, project: str, role: Role, event: NewEvent | None
    ) -> None:
        """Give ``user`` ``role`` in ``project`` (replacing the one held), with its event."""
        conn.execute(
            self._insert(role_bindings)
            .values(user_name=user, project=project, role=role.value)
            .on_conflict_do_update(
                index_elements=["user_name", "project"], set_={"role": role.value}
            )
        )
        payload = {"project": project, "role": role.value}
        insert_event(conn, audited(event, "user.grant", f"user:{user}", payload))

    def revoke_role(self, user: str, project: str, *, event: NewEvent | None = None) -> None:
        user, project = check_user_name(user), check_project(project)
        with self._write() as conn:
            _existing_user(conn, user)
            removed = conn.execute(
                sa.delete(role_bindings)
                .where(role_bindings.c.user_name == user, role_bindings.c.project == project)
                .returning(role_bindings.c.role)
            ).first()
            if removed is not None:
                payload = {"project": project}
                insert_event(conn, audited(event, "user.revoke", f"user:{user}", payload))

    def list_roles(self, user: str | None = None) -> list[RoleBinding]:
        query = sa.select(role_bindings).order_by(
            role_bindings.c.user_name, role_bindings.c.project
        )
        if user is not None:
            query = query.where(role_bindings.c.user_name == check_user_name(user))
        with self._read() as conn:
            rows = conn.execute(query).all()
        return [RoleBinding(row.user_name, row.project, Role(row.role)) for row in rows]

    # tokens ------------------------------------------------------------------------------

    def create_token(
        self,
        user: str,
        *,
        label: str = "",
        expires_in_ms: int | None = None,
        event: NewEvent | None = None,
    ) -> IssuedToken:
        user, label = check_user_name(user), check_label(label)
        expires_in_ms = check_expires_in_ms(expires_in_ms)
        parts, text = new_token()
        salt = new_salt()
        with self._write() as conn:
            owner = _existing_user(conn, user)
            if owner.disabled_at is not None:
                raise ConflictError(f"User {user!r} is disabled: it cannot get new tokens.")
            now = now_ms()
            conn.execute(
                sa.insert(api_tokens).values(
                    id=parts.token_id,
                    user_name=user,
                    label=label,
                    salt=salt,
                    secret_hash=hash_secret(salt, parts.secret),
                    created_at=now,
                    expires_at=None if expires_in_ms is None else now + expires_in_ms,
                )
            )
            row = _existing_token(conn, parts.token_id)
            payload = {"user": user, "label": label, "expires_at": row.expires_at}
            insert_event(conn, audited(event, "token.create", f"token:{parts.token_id}", payload))
        return IssuedToken(_token(row), text)

    def list_tokens(self, user: str | None = None) -> list[TokenInfo]:
        query = sa.select(api_tokens).order_by(api_tokens.c.created_at.desc(), api_tokens.c.id)
        if user is not None:
            query = query.where(api_tokens.c.user_name == check_user_name(user))
        with self._read() as conn:
            rows = conn.execute(query).all()
        return [_token(row) for row in rows]

    def revoke_token(self, token_id: str, *, event: NewEvent | None = None) -> TokenInfo:
        token_id = check_token_id(token_id)
        with self._write() as conn:
            row = _existing_token(conn, token_id)
            if row.revoked_at is None:
                conn.execute(
                    sa.update(api_tokens)
                    .where(api_tokens.c.id == token_id)
                    .values(revoked_at=now_ms())
                )
                row = _existing_token(conn, token_id)
                payload = {"user": row.user_name}
                insert_event(conn, audited(event, "token.revoke", f"token:{token_id}", payload))
            return _token(row)

    def authenticate(self, token: str) -> Identity:
        parts = parse_token(token)
        query = (
            sa.select(api_tokens, users.c.disabled_at.label("user_disabled_at"))
            .join(users, users.c.name == api_tokens.c.user_name)
            .where(api_tokens.c.id == parts.token_id)
        )
        with self._read() as conn:
            row = conn.execute(query).first()
            now = now_ms()
            if row is None or not secret_matches(row.salt, parts.secret, row.secret_hash):
                raise token_refused("unknown")
            state = _token(row).state_at(now)
            if state != "active":
                raise token_refused(state)
            if row.user_disabled_at is not None:
                raise token_refused("of a disabled user")
            bindings = conn.execute(
                sa.select(role_bindings).where(role_bindings.c.user_name == row.user_name)
            ).all()
        if row.last_used_at is None or now - row.last_used_at >= LAST_USED_PRECISION_MS:
            with self._write() as conn:
                conn.execute(
                    sa.update(api_tokens).where(api_tokens.c.id == row.id).values(last_used_at=now)
                )
        return Identity(
            user=row.user_name,
            token_id=row.id,
            bindings=tuple(RoleBinding(b.user_name, b.project, Role(b.role)) for b in bindings),
            expires_at=row.expires_at,
        )


def _existing_user(conn: Connection, name: str) -> Row[tuple[object, ...]]:
    row = conn.execute(sa.select(users).where(users.c.name == name)).first()
    if row is None:
        raise NotFoundError(f"No user named {name!r}; add one with 'loopml users add {name}'.")
    return row


def _existing_token(conn: Connection, token_id: str) -> Row[tuple[object, ...]]:
    row = conn.execute(sa.select(api_tokens).where(api_tokens.c.id == token_id)).first()
    if row is None:
        raise NotFoundError(f"No token with id {token_id!r}; 'loopml tokens list' shows them.")
    return row


def _user(row: Row[tuple[object, ...]]) -> User:
    return User(name=row.name, created_at=row.created_at, disabled_at=row.disabled_at)


def _token(row: Row[tuple[object, ...]]) -> TokenInfo:
    return TokenInfo(
        id=row.id,
        user=row.user_name,
        label=row.label,
        created_at=row.created_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
        last_used_at=row.last_used_at,
    )
