"""``loopml audit verify`` walking a long log as two stretches at once (a forked process walks
the tail) on real SQLite and PostgreSQL stores: whatever the split, the report is the one a
single walk gives, the FIRST bad position, with tampering at the seam or on both sides."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from loopml.core.audit_chain import Anchor, ChainReport, ChainWalk
from loopml.stores.metadata.sql import SqlMetadataStore, chain_reads
from loopml.stores.metadata.sql.chain_reads import verify_stored_chain
from loopml.stores.metadata.sql.engine import parse_uri

pytestmark = pytest.mark.skipif(not hasattr(chain_reads.os, "fork"), reason="needs fork")

ENTRIES = 8
TAMPERING = {
    "edited": ["UPDATE events SET payload = '[99]' WHERE seq = {k}"],
    "link edited": ["UPDATE events SET prev_hash = '{zero}' WHERE seq = {k}"],
    "deleted": ["DELETE FROM events WHERE seq = {k}"],
    "deleted, gap hidden": [
        "DELETE FROM events WHERE seq = {k}",
        "UPDATE events SET seq = seq - 1 WHERE seq > {k}",
    ],
    "moved": [
        "UPDATE events SET seq = 1000 WHERE seq = {k}",
        "UPDATE events SET seq = {k} WHERE seq = {k} + 1",
        "UPDATE events SET seq = {k} + 1 WHERE seq = 1000",
    ],
    "last ones cut": ["DELETE FROM events WHERE seq >= {k}"],
}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlMetadataStore]:
    if request.param == "sqlite":
        uri = f"sqlite:///{tmp_path / 'loopml.db'}"
    else:
        uri = str(request.getfixturevalue("postgres_uri"))
    with SqlMetadataStore(uri) as opened:
        for n in range(1, ENTRIES + 1):
            opened.append_event(actor="alice", action="note", target=f"run:{n}", payload={"n": n})
        yield opened


def _tamper(store: SqlMetadataStore, statements: list[str], k: int) -> None:
    engine = sa.create_engine(parse_uri(store.uri))  # the database as an attacker sees it
    with engine.begin() as conn:
        for statement in statements:
            text = statement.replace("{k}", str(k)).replace("{zero}", "0" * 64)
            conn.execute(sa.text(text))
    engine.dispose()


def _every_split(store: SqlMetadataStore, anchors: list[Anchor]) -> ChainReport:
    """The single walk's report, checked equal to the report of every split of the log."""
    single = verify_stored_chain(store, anchors)
    for split in range(1, ENTRIES + 2):
        assert verify_stored_chain(store, anchors, split=split) == single, (split, single)
    return single


@pytest.mark.parametrize("how", sorted(TAMPERING))
def test_every_split_reports_what_one_walk_reports(store: SqlMetadataStore, how: str) -> None:
    intact = _every_split(store, [])
    assert intact.ok and intact.head is not None and intact.entries == ENTRIES
    anchors = [intact.head, Anchor(intact.head.digest, 3)]  # the second one is wrong
    assert _every_split(store, anchors).first_bad == 3
    _tamper(store, TAMPERING[how], 5)
    report = _every_split(store, [])
    cut = how == "last ones cut"  # only an anchor finds that
    assert (report.first_bad, report.entries) == (None if cut else 5, 4), report
    assert _every_split(store, [intact.head]).first_bad == (ENTRIES if cut else 5)


@pytest.mark.parametrize("split", [4, 5])
def test_a_tamper_at_the_seam_or_on_both_sides_reports_the_first(
    store: SqlMetadataStore, split: int
) -> None:
    _tamper(store, TAMPERING["edited"], split + 1)  # the tail's first entry
    assert verify_stored_chain(store, split=split).first_bad == split + 1
    _tamper(store, TAMPERING["edited"], split)  # the head's last entry
    assert verify_stored_chain(store, split=split).first_bad == split
    _tamper(store, TAMPERING["edited"], 2)
    assert verify_stored_chain(store, split=split).first_bad == 2


def test_the_tail_is_walked_by_the_forked_process(
    store: SqlMetadataStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    walked_here: list[str] = []
    walk = chain_reads._walk

    def recorded(conn: sa.Connection, where: str, *args: object) -> ChainWalk:
        walked_here.append(where)
        return walk(conn, where, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(chain_reads, "_walk", recorded)
    _tamper(store, TAMPERING["edited"], 7)
    assert verify_stored_chain(store, split=4).first_bad == 7
    assert walked_here == ["WHERE seq <= 4"]  # the tail's bad entry was found by the child
    _tamper(store, TAMPERING["deleted"], 5)  # the tail does not start at 5: walked again here
    walked_here.clear()
    assert verify_stored_chain(store, split=5).first_bad == 5
    assert walked_here == ["WHERE seq <= 5", "WHERE seq > 5"]
    _tamper(store, TAMPERING["deleted"], 2)  # the head is bad: the child's walk is not needed
    walked_here.clear()
    assert verify_stored_chain(store, split=4).first_bad == 2
    assert walked_here == ["WHERE seq <= 4"]


_SPLIT_PROBE = """
import json, sys
from loopml.stores.metadata.sql import SqlMetadataStore, chain_reads
from loopml.stores.metadata.sql.chain_reads import verify_stored_chain

walked_here, walk = [], chain_reads._walk

def recorded(conn, where, *args):
    walked_here.append(where)
    return walk(conn, where, *args)

chain_reads._walk = recorded
with SqlMetadataStore(sys.argv[1]) as store:
    short = verify_stored_chain(store)
    walks = [list(walked_here)]
    chain_reads.SPLIT_FROM = int(sys.argv[2])
    walked_here.clear()
    split = verify_stored_chain(store)
    walks.append(list(walked_here))
print(json.dumps({"ok": [short.ok, split.ok], "entries": split.entries, "walks": walks}))
"""


def test_a_long_log_is_split_when_this_process_may_fork(store: SqlMetadataStore) -> None:
    # a process of one thread, as the CLI is (a pytest worker runs threads of its own)
    probe = subprocess.run(
        [sys.executable, "-c", _SPLIT_PROBE, store.uri, str(ENTRIES)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    seen = json.loads(probe.stdout)
    assert seen["ok"] == [True, True] and seen["entries"] == ENTRIES
    assert seen["walks"] == [[""], [f"WHERE seq <= {ENTRIES // 2}"]]  # short: one walk
