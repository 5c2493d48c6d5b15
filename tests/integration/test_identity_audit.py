"""Changes to users, roles and tokens are in the hash-chained audit log, appended in the
change's own transaction on real SQLite and PostgreSQL; a change that changes nothing (a
second disable, revoking a role not held) records nothing, and a token's secret is never in
an event."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from loopml.core.entities import Event
from loopml.core.roles import Role
from loopml.stores.identity.sql import SqlIdentityStore
from loopml.stores.metadata.sql import SqlMetadataStore
from loopml.tracking.audit_log import verify_log


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def uri(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'loopml.db'}"
    return str(request.getfixturevalue("postgres_uri"))


def test_user_role_and_token_changes_are_audited_once_each(uri: str) -> None:
    name = f"user-{uuid.uuid4().hex[:8]}"
    with SqlMetadataStore(uri) as metadata:
        identity = SqlIdentityStore(uri)
        try:
            identity.add_user(name)
            identity.grant_role(name, "default", Role.EDITOR)
            issued = identity.create_token(name, label="ci")
            identity.revoke_token(issued.info.id)
            identity.revoke_token(issued.info.id)  # revoked already: nothing to record
            identity.revoke_role(name, "default")
            identity.revoke_role(name, "default")  # held none: nothing to record
            identity.disable_user(name)
            identity.disable_user(name)
        finally:
            identity.close()
        targets = {f"user:{name}", f"token:{issued.info.id}"}
        events = [e for e in _all_events(metadata) if e.target in targets]
        assert [e.action for e in events] == [
            "user.add",
            "user.grant",
            "token.create",
            "token.revoke",
            "user.revoke",
            "user.disable",
        ]
        assert all(e.actor.startswith("local:") for e in events)
        assert events[1].payload == {"project": "default", "role": "editor"}
        assert all(issued.secret not in str(e.payload) for e in events)
        assert verify_log(metadata).ok


def _all_events(store: SqlMetadataStore) -> list[Event]:
    events: list[Event] = []
    token: str | None = None
    while True:
        page = store.list_events(max_results=1000, page_token=token)
        events.extend(page.items)
        token = page.next_page_token
        if token is None:
            return events
