"""The audit log's hash chain: how entries are linked, and what verification finds."""

from __future__ import annotations

import pytest

from loopml.core.audit_chain import (
    GENESIS,
    Anchor,
    ChainEntry,
    canonical_json,
    chain_hash,
    entry_text,
    verify_chain,
)
from loopml.core.entities import Event
from loopml.core.errors import InvalidInputError
from loopml.tracking.audit_log import EventFilter, parse_since


def _chain(count: int) -> list[ChainEntry]:
    entries, prev = [], GENESIS
    for seq in range(1, count + 1):
        payload = canonical_json({"n": seq, "note": "é|\n"})
        fields = (seq, 1_700_000_000_000 + seq, "local:ana", "run.create", f"run:{seq}", "r1")
        text = entry_text(*fields, "", "a" * 64, payload)
        digest = chain_hash(prev, text)
        entries.append(ChainEntry(*fields, "", "a" * 64, payload, prev, digest))
        prev = digest
    return entries


def _renumbered(entries: list[ChainEntry]) -> list[ChainEntry]:
    """``entries`` with positions 1, 2, … again (an attacker hiding a gap)."""
    return [entry._replace(seq=i) for i, entry in enumerate(entries, start=1)]


def test_an_intact_chain_verifies_and_reports_its_head() -> None:
    entries = _chain(5)
    report = verify_chain(entries)
    assert report.ok and report.entries == 5
    assert report.head == Anchor(entries[-1].hash, 5)
    assert verify_chain([]).ok and verify_chain([]).head is None


@pytest.mark.parametrize("field", ["actor", "action", "target", "payload_json", "timestamp"])
def test_an_edited_entry_is_found_at_its_position(field: str) -> None:
    entries = _chain(5)
    value = getattr(entries[2], field)
    entries[2] = entries[2]._replace(**{field: value + 1 if field == "timestamp" else value + "x"})
    report = verify_chain(entries)
    assert (report.ok, report.first_bad, report.entries) == (False, 3, 2)
    assert "edited" in report.problem


def test_a_deleted_entry_is_found_whether_or_not_positions_were_renumbered() -> None:
    entries = _chain(5)
    del entries[1]
    assert verify_chain(entries).first_bad == 2
    assert verify_chain(_renumbered(entries)).first_bad == 2


def test_an_inserted_entry_is_found() -> None:
    entries = _chain(5)
    forged = entries[1]._replace(actor="local:mallory", hash="f" * 64)
    assert verify_chain(_renumbered([*entries[:2], forged, *entries[2:]])).first_bad == 3
    # even one hashed correctly after its predecessor breaks the link of its successor
    text = entry_text(3, 1, "local:mallory", "model.approve", "model:x", "", "", "", "{}")
    good = ChainEntry(3, 1, "local:mallory", "model.approve", "model:x", "", "", "", "{}",
                      entries[1].hash, chain_hash(entries[1].hash, text))  # fmt: skip
    assert verify_chain(_renumbered([*entries[:2], good, *entries[2:]])).first_bad == 4


def test_reordered_entries_are_found() -> None:
    entries = _chain(5)
    entries[1], entries[2] = entries[2], entries[1]
    assert verify_chain(entries).first_bad == 2
    assert verify_chain(_renumbered(entries)).first_bad == 2


def test_anchors_catch_a_rewritten_or_truncated_log() -> None:
    entries = _chain(4)
    anchor = Anchor(entries[2].hash, 3)
    assert verify_chain(entries, [anchor]).ok
    rewritten = _chain(2) + [replace_hash(e) for e in _chain(4)[2:]]
    assert verify_chain(entries[:2], [anchor]).first_bad == 3  # truncated
    assert not verify_chain(rewritten, [anchor]).ok
    assert verify_chain(entries, [Anchor("0" * 64, 3)]).first_bad == 3


def replace_hash(entry: ChainEntry) -> ChainEntry:
    return entry._replace(hash="e" * 64)


def test_anchors_parse_from_what_anchor_prints_and_refuse_anything_else() -> None:
    anchor = Anchor("ab" * 32, 42)
    assert Anchor.parse(str(anchor)) == anchor
    for bad in ("", "ab@1", f"{'ab' * 32}@0", f"{'AB' * 32}@3", f"{'ab' * 32}"):
        with pytest.raises(InvalidInputError, match="DIGEST@POSITION"):
            Anchor.parse(bad)


def test_framing_keeps_entries_with_shifted_fields_apart() -> None:
    one = entry_text(1, 1, "a|b", "c", "t", "", "", "", "{}")
    two = entry_text(1, 1, "a", "b|c", "t", "", "", "", "{}")
    assert one != two
    assert canonical_json({"b": 1, "a": [1.5, "é"]}) == '{"a":[1.5,"é"],"b":1}'


def test_since_takes_durations_and_dates_and_filters_match() -> None:
    assert parse_since("2h", now_ms=10_000_000) == 10_000_000 - 7_200_000
    assert parse_since("1970-01-02") == 86_400_000
    assert parse_since("1970-01-01T01:00:00+01:00") == 0
    with pytest.raises(InvalidInputError, match="--since"):
        parse_since("yesterday")
    event = Event(1, 500, "ana", "model.approve", "model:churn", {})
    assert EventFilter(since=500, actor="ana", target="model:churn").matches(event)
    assert EventFilter(target="model:").matches(event)
    assert EventFilter(target="model:*").matches(event)
    assert not EventFilter(target="model:chu").matches(event)
    assert not EventFilter(since=501).matches(event)
    assert not EventFilter(actor="bob").matches(event)
