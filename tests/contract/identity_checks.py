"""The behaviours every :class:`IdentityStore` backend must have: users added once and
disabled for good, one role per user and project, tokens whose secret is shown once and
authenticates to its user and roles until it expires or is revoked, and bad input refused
with nothing stored. Names are unique per check, so they run against a shared server."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import pytest

from loopml.core.errors import ConflictError, InvalidInputError, NotFoundError
from loopml.core.errors import UnauthenticatedError as Refused
from loopml.core.identity_records import RoleBinding
from loopml.core.roles import Role
from loopml.stores.identity.base import IdentityStore

IdentityCheck = Callable[[IdentityStore], None]


def _name() -> str:
    return f"user-{uuid.uuid4().hex[:10]}"


def check_a_user_is_added_once_and_listed(store: IdentityStore) -> None:
    name = _name()
    added = store.add_user(name)
    assert (added.name, added.disabled_at) == (name, None) and added.created_at > 0
    assert store.get_user(name) == added
    assert added in store.list_users()
    with pytest.raises(ConflictError, match=name):
        store.add_user(name)
    with pytest.raises(NotFoundError, match="users add"):
        store.get_user(_name())


def check_one_role_per_user_and_project_replaced_and_revoked(store: IdentityStore) -> None:
    name = _name()
    store.add_user(name)
    assert store.list_roles(name) == []
    store.grant_role(name, "default", Role.VIEWER)
    assert store.grant_role(name, "default", Role.APPROVER) == RoleBinding(
        name, "default", Role.APPROVER
    )
    store.grant_role(name, "*", Role.VIEWER)
    assert store.list_roles(name) == [
        RoleBinding(name, "*", Role.VIEWER),
        RoleBinding(name, "default", Role.APPROVER),
    ]
    assert RoleBinding(name, "*", Role.VIEWER) in store.list_roles()
    store.revoke_role(name, "default")
    store.revoke_role(name, "default")  # holding none is fine
    assert store.list_roles(name) == [RoleBinding(name, "*", Role.VIEWER)]
    with pytest.raises(NotFoundError):
        store.grant_role(_name(), "default", Role.ADMIN)


def check_a_user_added_with_a_role_holds_it_and_bad_input_adds_neither(
    store: IdentityStore,
) -> None:
    name = _name()
    store.add_user(name, role=Role.EDITOR, project="fraud")
    assert store.list_roles(name) == [RoleBinding(name, "fraud", Role.EDITOR)]
    refused = _name()
    with pytest.raises(InvalidInputError, match="project"):
        store.add_user(refused, role=Role.VIEWER, project="a b")
    with pytest.raises(NotFoundError):
        store.get_user(refused)


def check_a_token_authenticates_to_its_user_and_roles_and_its_secret_is_kept_nowhere(
    store: IdentityStore,
) -> None:
    name = _name()
    store.add_user(name)
    store.grant_role(name, "fraud", Role.EDITOR)
    issued = store.create_token(name, label="laptop")
    assert issued.secret.startswith(f"lml_{issued.info.id}_") and "***" in repr(issued)
    identity = store.authenticate(issued.secret)
    assert (identity.user, identity.token_id, identity.expires_at) == (name, issued.info.id, None)
    assert identity.roles_in("fraud") == {Role.EDITOR} and identity.roles_in("default") == set()
    [listed] = store.list_tokens(name)
    assert (listed.id, listed.label, listed.revoked_at) == (issued.info.id, "laptop", None)
    assert listed.last_used_at is not None  # authenticating recorded its use
    assert issued.secret not in repr(store.list_tokens())
    other = store.create_token(name)
    assert [t.id for t in store.list_tokens(name)] == [other.info.id, issued.info.id]


def check_a_wrong_or_malformed_token_is_refused(store: IdentityStore) -> None:
    name = _name()
    store.add_user(name)
    issued = store.create_token(name)
    wrong = issued.secret[:-4] + ("AAAA" if not issued.secret.endswith("AAAA") else "BBBB")
    for token in (wrong, f"lml_{'0' * 16}_{'A' * 43}", "not-a-token", ""):
        with pytest.raises(Refused):
            store.authenticate(token)


def check_an_expired_token_is_refused(store: IdentityStore) -> None:
    name = _name()
    store.add_user(name)
    issued = store.create_token(name, expires_in_ms=1)
    assert issued.info.expires_at == issued.info.created_at + 1
    time.sleep(0.01)
    with pytest.raises(Refused, match="expired"):
        store.authenticate(issued.secret)
    lasting = store.create_token(name, expires_in_ms=3_600_000)
    assert store.authenticate(lasting.secret).expires_at == lasting.info.expires_at


def check_a_revoked_token_is_refused_for_good(store: IdentityStore) -> None:
    name = _name()
    store.add_user(name)
    issued, kept = store.create_token(name), store.create_token(name)
    revoked = store.revoke_token(issued.info.id)
    assert revoked.revoked_at is not None
    assert store.revoke_token(issued.info.id) == revoked  # again: unchanged
    with pytest.raises(Refused, match="revoked"):
        store.authenticate(issued.secret)
    assert store.authenticate(kept.secret).user == name
    with pytest.raises(NotFoundError, match="tokens list"):
        store.revoke_token("0" * 16)


def check_a_disabled_user_s_tokens_stop_working(store: IdentityStore) -> None:
    name = _name()
    store.add_user(name)
    issued = store.create_token(name)
    disabled = store.disable_user(name)
    assert disabled.disabled_at is not None and store.disable_user(name) == disabled
    with pytest.raises(Refused, match="disabled"):
        store.authenticate(issued.secret)
    with pytest.raises(ConflictError, match="disabled"):
        store.create_token(name)


def check_bad_input_is_refused_and_nothing_is_stored(store: IdentityStore) -> None:
    before = store.list_users()
    for bad in ("", "has space", "-dash-first", "x" * 101, "a/b"):
        with pytest.raises(InvalidInputError, match="user name"):
            store.add_user(bad)
    name = _name()
    store.add_user(name)
    with pytest.raises(InvalidInputError, match="role must be one of viewer"):
        store.grant_role(name, "default", "boss")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="project"):
        store.grant_role(name, "a b", Role.VIEWER)
    with pytest.raises(InvalidInputError, match="expires_in_ms"):
        store.create_token(name, expires_in_ms=0)
    with pytest.raises(InvalidInputError, match="label"):
        store.create_token(name, label="two\nlines")
    with pytest.raises(InvalidInputError, match="16 hex"):
        store.revoke_token("../x")
    assert store.list_roles(name) == [] and store.list_tokens(name) == []
    assert len(store.list_users()) == len(before) + 1


def identity_store_checks() -> list[IdentityCheck]:
    return [
        check_a_user_is_added_once_and_listed,
        check_a_user_added_with_a_role_holds_it_and_bad_input_adds_neither,
        check_one_role_per_user_and_project_replaced_and_revoked,
        check_a_token_authenticates_to_its_user_and_roles_and_its_secret_is_kept_nowhere,
        check_a_wrong_or_malformed_token_is_refused,
        check_an_expired_token_is_refused,
        check_a_revoked_token_is_refused_for_good,
        check_a_disabled_user_s_tokens_stop_working,
        check_bad_input_is_refused_and_nothing_is_stored,
    ]
