"""``loopml audit`` as a user runs it on a local project: the log of what they did (as
``local:<os user>``), a verification that passes, an anchor, and an edit found at its position
by ``verify`` (exit 1) and by ``verify --anchor`` after the whole tail was re-hashed."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from loopml.core.audit_chain import chain_hash, entry_text
from loopml.core.config import init_project
from loopml.stores.metadata.sql import SqlMetadataStore
from tests.e2e.runner import cli


def test_audit_log_verify_anchor_and_export_find_an_edit(tmp_path: Path) -> None:
    init_project(tmp_path)
    with SqlMetadataStore(f"sqlite:///{tmp_path / '.loopml' / 'loopml.db'}") as store:
        for name in ("first", "second", "third"):  # embedded, as a script of the user's
            store.create_experiment(name)

    listed = cli("audit", "log", "--json", "--target", "experiment:", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    events = json.loads(listed.stdout)
    assert [e["payload"]["name"] for e in events] == ["first", "second", "third"]
    assert all(e["actor"].startswith("local:") for e in events)
    assert json.loads(cli("audit", "log", "--json", "--actor", "bob", cwd=tmp_path).stdout) == []

    verified = cli("audit", "verify", cwd=tmp_path)
    assert verified.returncode == 0 and "OK: 3 entries" in verified.stdout, verified.stderr
    anchor = cli("audit", "anchor", cwd=tmp_path).stdout.strip()
    assert anchor == f"{events[2]['hash']}@3"
    exported = cli("audit", "export", cwd=tmp_path).stdout.splitlines()
    assert [json.loads(line)["hash"] for line in exported] == [e["hash"] for e in events]

    database = sqlite3.connect(tmp_path / ".loopml" / "loopml.db")
    try:
        database.execute("UPDATE events SET actor = 'local:someone-else' WHERE seq = 2")
        database.commit()
        broken = cli("audit", "verify", cwd=tmp_path)
        assert broken.returncode == 1
        assert "position 2" in broken.stderr and "edited" in broken.stderr
        # the attacker re-hashes the tail: the chain holds again, only the anchor tells
        _rehash_from(database, 2)
        assert cli("audit", "verify", cwd=tmp_path).returncode == 0
    finally:
        database.close()
    anchored = cli("audit", "verify", "--anchor", anchor, "--json", cwd=tmp_path)
    assert anchored.returncode == 1
    assert json.loads(anchored.stdout)["first_bad_position"] == 3
    bad = cli("audit", "verify", "--anchor", "nonsense", cwd=tmp_path)
    assert bad.returncode == 2 and "DIGEST@POSITION" in bad.stderr


def _rehash_from(database: sqlite3.Connection, seq: int) -> None:
    rows = database.execute(
        "SELECT seq, timestamp, actor, action, target, request_id, before_digest, after_digest, "
        "payload, prev_hash FROM events WHERE seq >= ? ORDER BY seq",
        (seq,),
    ).fetchall()
    prev = rows[0][-1]
    for *fields, _ in rows:
        digest = chain_hash(prev, entry_text(*fields))
        database.execute(
            "UPDATE events SET prev_hash = ?, hash = ? WHERE seq = ?", (prev, digest, fields[0])
        )
        prev = digest
    database.commit()
