"""The pure parts of identity and access: the role → permission table, the token format and
its salted hash, the LOOPML_AUTH switch and the refusal to listen beyond loopback without
auth; and the server's token cache over a real SQLite identity store."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from loopml.core.errors import ConfigError, UnauthenticatedError
from loopml.core.identity_records import hash_secret, new_salt, new_token, parse_token
from loopml.core.roles import PERMISSIONS, ROLE_PERMISSIONS, Role
from loopml.server.auth import TokenAuthenticator, auth_enabled, cache_seconds
from loopml.server.run import check_exposure
from loopml.stores.identity.sql import SqlIdentityStore


def test_each_role_grants_what_the_one_before_it_does_and_more() -> None:
    ranks = list(Role)
    for lower, higher in itertools.pairwise(ranks):
        assert ROLE_PERMISSIONS[lower] < ROLE_PERMISSIONS[higher]
    assert ROLE_PERMISSIONS[Role.VIEWER] == {p for p in PERMISSIONS if p.endswith(":read")}
    assert ROLE_PERMISSIONS[Role.ADMIN] == set(PERMISSIONS)
    assert ROLE_PERMISSIONS[Role.APPROVER] - ROLE_PERMISSIONS[Role.EDITOR] == {
        "models:approve",
        "models:promote",
    }
    assert "runs:write" in ROLE_PERMISSIONS[Role.EDITOR]
    assert "users:admin" not in ROLE_PERMISSIONS[Role.APPROVER]


def test_a_token_parses_back_to_its_id_and_secret_and_only_its_hash_is_kept() -> None:
    parts, text = new_token()
    assert parse_token(text) == parts and len(parts.secret) == 43
    salt, other_salt = new_salt(), new_salt()
    assert hash_secret(salt, parts.secret) != hash_secret(other_salt, parts.secret)
    assert parts.secret not in hash_secret(salt, parts.secret)


@pytest.mark.parametrize(
    "text", ["", "lml_", "Bearer lml_x", f"lml_{'G' * 16}_{'A' * 43}", f"lml_{'0' * 16}_short"]
)
def test_a_malformed_token_is_refused_without_being_echoed(text: str) -> None:
    with pytest.raises(UnauthenticatedError, match="not a loopml API token") as refused:
        parse_token(text)
    assert len(text) < 8 or text not in str(refused.value)


@pytest.mark.parametrize(
    ("value", "on"), [("1", True), ("true", True), ("ON", True), ("0", False), ("", False)]
)
def test_loopml_auth_is_read_as_a_switch(value: str, on: bool) -> None:
    assert auth_enabled({"LOOPML_AUTH": value}) is on


def test_bad_auth_settings_name_the_variable() -> None:
    with pytest.raises(ConfigError, match="LOOPML_AUTH must be 1 or 0"):
        auth_enabled({"LOOPML_AUTH": "maybe"})
    with pytest.raises(ConfigError, match="LOOPML_AUTH_CACHE_SECONDS"):
        cache_seconds({"LOOPML_AUTH_CACHE_SECONDS": "-1"})
    assert cache_seconds({}) == 5.0


def test_a_server_beyond_loopback_needs_auth() -> None:
    with pytest.raises(ConfigError, match=r"Refusing to listen on 0\.0\.0\.0 without auth"):
        check_exposure("0.0.0.0", auth=False)
    check_exposure("0.0.0.0", auth=True)
    for host in ("127.0.0.1", "localhost", "::1"):
        check_exposure(host, auth=False)


def test_the_token_cache_remembers_a_principal_in_its_project_for_its_time_only(
    tmp_path: Path,
) -> None:
    store = SqlIdentityStore(f"sqlite:///{tmp_path / 'loopml.db'}")
    try:
        store.add_user("ann")
        store.grant_role("ann", "fraud", Role.APPROVER)
        store.grant_role("ann", "*", Role.VIEWER)
        issued = store.create_token("ann")
        cached = TokenAuthenticator(store, project="fraud", cache_seconds=60)
        principal = cached.resolve(issued.secret)
        assert (principal.name, principal.authenticated) == ("ann", True)
        assert principal.roles == (Role.APPROVER, Role.VIEWER)
        assert principal.allows("models:promote") and not principal.allows("users:admin")
        elsewhere = TokenAuthenticator(store, project="churn", cache_seconds=0)
        assert elsewhere.resolve(issued.secret).roles == (Role.VIEWER,)
        store.revoke_token(issued.info.id)
        assert cached.cached(issued.secret) == principal  # until its 60 s are up
        assert elsewhere.cached(issued.secret) is None  # nothing is kept with a 0 s cache
        with pytest.raises(UnauthenticatedError, match="revoked"):
            elsewhere.resolve(issued.secret)
    finally:
        store.close()
