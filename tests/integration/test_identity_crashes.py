"""Identity writes survive ``kill -9`` at any point, on SQLite and PostgreSQL: a process
adding users with a role, creating tokens, changing roles and revoking tokens through the CLI
(``loopml users``/``loopml tokens``, embedded as an admin bootstraps) is killed after a random
delay, round after round. Afterwards every write it acknowledged is there, nothing is half
written (a user without the role it was added with, a token or role without its audit event,
an event without its change), and ``loopml audit verify`` passes."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from loopml.core.entities import Event
from loopml.stores.identity.sql import SqlIdentityStore
from loopml.stores.metadata.sql import SqlMetadataStore
from tests.e2e.runner import cli

ROUNDS = 3
USERS_PER_ROUND = 40

# runs the CLI's main() in this one process, command after command, and prints one JSON line
# per command that finished with exit 0: what it acknowledged
_DRIVER = textwrap.dedent(
    """
    import contextlib, io, json, sys
    from loopml.cli.main import main

    prefix, count = sys.argv[1], int(sys.argv[2])
    ack = sys.__stdout__

    def run(*args):
        sys.argv = ["loopml", *args]
        captured = io.StringIO()
        with contextlib.redirect_stdout(captured):
            try:
                main()
            except SystemExit as stop:
                if stop.code not in (0, None):
                    raise RuntimeError(f"loopml {' '.join(args)}: exit {stop.code}")
        return captured.getvalue()

    run("users", "list")  # imports and opens (migrates) the store before the clock starts
    print(json.dumps({"op": "ready"}), file=ack, flush=True)
    for i in range(count):
        user = f"{prefix}-{i}"
        run("users", "add", user, "--role", "editor")
        print(json.dumps({"op": "add", "user": user}), file=ack, flush=True)
        secret = run("tokens", "create", user, "--label", f"t{i}").strip()
        token = secret.split("_")[1]
        print(json.dumps({"op": "token", "user": user, "id": token}), file=ack, flush=True)
        run("users", "grant", user, "approver")
        print(json.dumps({"op": "grant", "user": user}), file=ack, flush=True)
        if i % 2:
            run("tokens", "revoke", token)
            print(json.dumps({"op": "revoke", "id": token}), file=ack, flush=True)
    """
)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_uri(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'loopml.db'}"
    return str(request.getfixturevalue("postgres_uri"))


def _killed_round(uri: str, prefix: str, delay: float, cwd: Path) -> list[dict[str, str]]:
    """Run the driver, SIGKILL it ``delay`` seconds after its imports; what it acknowledged."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")}
    env.update({"LOOPML_STORE_URI": uri, "LOOPML_ARTIFACT_URI": str(cwd / "artifacts")})
    process = subprocess.Popen(
        [sys.executable, "-c", _DRIVER, prefix, str(USERS_PER_ROUND)],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert json.loads(process.stdout.readline()) == {"op": "ready"}, process.stderr
    time.sleep(delay)
    process.send_signal(signal.SIGKILL)
    out, _ = process.communicate(timeout=30)
    return [json.loads(line) for line in out.splitlines() if line.endswith("}")]


def _events(uri: str) -> list[Event]:
    events: list[Event] = []
    with SqlMetadataStore(uri) as store:
        token: str | None = None
        while True:
            page = store.list_events(max_results=1000, page_token=token)
            events.extend(page.items)
            token = page.next_page_token
            if token is None:
                return events


def test_identity_writes_survive_kill_9_at_random_points(store_uri: str, tmp_path: Path) -> None:
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    acknowledged: list[dict[str, str]] = []
    for n in range(ROUNDS):
        acknowledged += _killed_round(store_uri, f"r{n}", rng.uniform(0.05, 1.5), tmp_path)
    assert acknowledged, f"seed {seed}: nothing was acknowledged before the kills"

    identity = SqlIdentityStore(store_uri)
    try:
        users = {user.name for user in identity.list_users()}
        roles = {(b.user, b.project): b.role.value for b in identity.list_roles()}
        tokens = {t.id: t for t in identity.list_tokens()}
    finally:
        identity.close()
    where = f"(seed {seed})"
    for ack in acknowledged:
        if ack["op"] == "add":
            assert ack["user"] in users, where
        elif ack["op"] == "token":
            assert tokens[ack["id"]].user == ack["user"], where
        elif ack["op"] == "grant":
            assert roles[(ack["user"], "default")] == "approver", where
        else:
            assert tokens[ack["id"]].revoked_at is not None, where

    # nothing half written: each change has exactly its event, each event its change
    by_target: dict[str, list[Any]] = defaultdict(list)
    for event in _events(store_uri):
        by_target[event.target].append(event)
    assert {t for t in by_target if t.startswith("user:")} == {f"user:{u}" for u in users}, where
    assert {t for t in by_target if t.startswith("token:")} == {f"token:{t}" for t in tokens}, where
    for user in users:
        actions = [e.action for e in by_target[f"user:{user}"]]
        assert actions[0] == "user.add" and actions.count("user.add") == 1, (user, actions, where)
        grants = [e.payload["role"] for e in by_target[f"user:{user}"] if e.action == "user.grant"]
        # every user was added with a role: a user without one is a half-done 'users add'
        assert grants and roles.get((user, "default")) == grants[-1], (user, grants, where)
    for token_id, info in tokens.items():
        actions = [e.action for e in by_target[f"token:{token_id}"]]
        expected = ["token.create", "token.revoke"] if info.revoked_at else ["token.create"]
        assert actions == expected, (token_id, actions, where)

    # the log needs only the metadata store, as the users and tokens commands do
    verified = cli("audit", "verify", cwd=tmp_path, env={"LOOPML_STORE_URI": store_uri})
    assert verified.returncode == 0, (verified.stdout, verified.stderr, where)


def test_adding_a_user_with_a_role_is_one_change(tmp_path: Path) -> None:
    """``loopml users add NAME --role R`` writes the user and the role together or not at
    all: when the role cannot be stored, there is no user either (and no event)."""
    database = tmp_path / "loopml.db"
    uri = f"sqlite:///{database}"
    SqlIdentityStore(uri).close()
    with sqlite3.connect(database) as conn:
        conn.execute(
            "CREATE TRIGGER refuse_roles BEFORE INSERT ON role_bindings "
            "BEGIN SELECT RAISE(ABORT, 'no roles today'); END"
        )
    env = {"LOOPML_STORE_URI": uri}
    added = cli("users", "add", "ada", "--role", "admin", cwd=tmp_path, env=env)
    assert added.returncode != 0
    identity = SqlIdentityStore(uri)
    try:
        assert identity.list_users() == []
    finally:
        identity.close()
    assert [e.action for e in _events(uri)] == []
