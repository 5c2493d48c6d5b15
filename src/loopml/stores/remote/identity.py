"""The identity store over HTTP: each :class:`~loopml.stores.identity.base.IdentityStore`
primitive is one call to the routes of :mod:`loopml.server.routes.identity`, which need the
``users:admin`` permission when the server has auth on (send an admin's ``LOOPML_TOKEN``).

Creating a user or a token is not sent again after a lost answer (a second token would be
made, and the first one's secret lost); the other writes are idempotent and are.
"""

from __future__ import annotations

from urllib.parse import quote

from loopml.core.identity_records import (
    Identity,
    IssuedToken,
    RoleBinding,
    TokenInfo,
    User,
    check_label,
    check_project,
    check_role,
    check_token_id,
    check_user_name,
    parse_token,
)
from loopml.core.roles import DEFAULT_PROJECT, Role
from loopml.stores.metadata.base import NewEvent
from loopml.stores.remote import wire
from loopml.stores.remote.http import ApiClient
from loopml.stores.remote.wire import EntityDecoder, JsonObject

_user = EntityDecoder(User)
_token = EntityDecoder(TokenInfo)


class HttpIdentityStore:
    """:class:`~loopml.stores.identity.base.IdentityStore` on ``http(s)://host:port``."""

    def __init__(self, uri: str, *, token: str | None = None) -> None:
        self._api = ApiClient(uri, token=token)

    def __repr__(self) -> str:
        return f"HttpIdentityStore({self._api.base_url!r})"

    def close(self) -> None:
        self._api.close()

    # users -------------------------------------------------------------------------------

    def add_user(
        self,
        name: str,
        *,
        role: Role | None = None,
        project: str = DEFAULT_PROJECT,
        event: NewEvent | None = None,
    ) -> User:
        wire.refuse_event(event)
        body: dict[str, str] = {"name": check_user_name(name)}
        if role is not None:
            body.update(role=check_role(role).value, project=check_project(project))
        return _user(self._api.request_json("POST", "/users", json_body=body, idempotent=False))

    def get_user(self, name: str) -> User:
        return _user(self._api.request_json("GET", f"/users/{_segment(check_user_name(name))}"))

    def list_users(self) -> list[User]:
        data = self._api.request_json("GET", "/users")
        return [_user(item) for item in wire.objects(data, "users")]

    def disable_user(self, name: str, *, event: NewEvent | None = None) -> User:
        wire.refuse_event(event)
        path = f"/users/{_segment(check_user_name(name))}/disable"
        return _user(self._api.request_json("POST", path, idempotent=True))

    # roles -------------------------------------------------------------------------------

    def grant_role(
        self, user: str, project: str, role: Role, *, event: NewEvent | None = None
    ) -> RoleBinding:
        wire.refuse_event(event)
        path = _role_path(user, project)
        data = self._api.request_json("PUT", path, json_body={"role": check_role(role).value})
        return _binding(data)

    def revoke_role(self, user: str, project: str, *, event: NewEvent | None = None) -> None:
        wire.refuse_event(event)
        self._api.request("DELETE", _role_path(user, project))

    def list_roles(self, user: str | None = None) -> list[RoleBinding]:
        params = {} if user is None else {"user": check_user_name(user)}
        data = self._api.request_json("GET", "/roles", params=params)
        return [_binding(item) for item in wire.objects(data, "roles")]

    # tokens ------------------------------------------------------------------------------

    def create_token(
        self,
        user: str,
        *,
        label: str = "",
        expires_in_ms: int | None = None,
        event: NewEvent | None = None,
    ) -> IssuedToken:
        wire.refuse_event(event)
        body = {
            "user": check_user_name(user),
            "label": check_label(label),
            "expires_in_ms": expires_in_ms,
        }
        data = self._api.request_json("POST", "/tokens", json_body=body, idempotent=False)
        return IssuedToken(_token(wire.member(data, "token")), _text(data, "secret"))

    def list_tokens(self, user: str | None = None) -> list[TokenInfo]:
        params = {} if user is None else {"user": check_user_name(user)}
        data = self._api.request_json("GET", "/tokens", params=params)
        return [_token(item) for item in wire.objects(data, "tokens")]

    def revoke_token(self, token_id: str, *, event: NewEvent | None = None) -> TokenInfo:
        wire.refuse_event(event)
        path = f"/tokens/{check_token_id(token_id)}/revoke"
        return _token(self._api.request_json("POST", path, idempotent=True))

    def authenticate(self, token: str) -> Identity:
        parse_token(token)  # a malformed token is refused here, as by the SQL store
        data = self._api.request_json(
            "POST", "/tokens/authenticate", json_body={"token": token}, idempotent=True
        )
        return Identity(
            user=_text(data, "user"),
            token_id=_text(data, "token_id"),
            bindings=tuple(_binding(item) for item in wire.objects(data, "roles")),
            expires_at=_expiry(data),
        )


def _segment(text: str) -> str:
    return quote(text, safe="")


def _role_path(user: str, project: str) -> str:
    return f"/users/{_segment(check_user_name(user))}/roles/{_segment(check_project(project))}"


def _text(data: JsonObject, key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str):
        raise wire.WireFormatError(f"The server sent an unexpected {key!r} field.")
    return value


def _binding(data: JsonObject) -> RoleBinding:
    return RoleBinding(_text(data, "user"), _text(data, "project"), check_role(data.get("role")))


def _expiry(data: JsonObject) -> int | None:
    return None if data.get("expires_at") is None else wire.integer(data, "expires_at")
